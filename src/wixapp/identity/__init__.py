"""Who is calling: a Wix access token (or the legacy signed ``instance``) → :class:`Caller`.

``identifier`` runs the check (cache, single-flight, budget, token-info), ``trust`` holds the
trust rules as a pure function, ``budget`` caps token-info calls, ``elevation`` acts as the
app for an instance (app tokens, instance data), ``legacy`` verifies the signed parameter.
"""

from wixapp.identity.budget import TokenCheckBudget
from wixapp.identity.elevation import ElevatedAuth, Elevation, ElevationPolicy, InstanceData
from wixapp.identity.identifier import Identifier, IdentityPolicy, token_from_header
from wixapp.identity.legacy import LegacyInstance, verify_instance_param
from wixapp.identity.trust import trust_token_info

__all__ = [
    "ElevatedAuth",
    "Elevation",
    "ElevationPolicy",
    "Identifier",
    "IdentityPolicy",
    "InstanceData",
    "LegacyInstance",
    "TokenCheckBudget",
    "token_from_header",
    "trust_token_info",
    "verify_instance_param",
]
