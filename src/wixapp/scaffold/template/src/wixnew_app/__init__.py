"""Wixnew App: a self-hosted Wix app on wixapp."""
