"""The README's example of a user's own test, run here from README.md itself.

The same example runs in a fresh project with only what the README says to install in
tests/install/test_readme_plugin.py; here it runs in the suite's own environment.
"""

from __future__ import annotations

from readme_blocks import readme_blocks

(_EXAMPLE,) = readme_blocks("Test your own code offline", "python")

# Defines the README's test function in this module, where pytest collects it.
exec(compile(_EXAMPLE, "README.md", "exec"))
