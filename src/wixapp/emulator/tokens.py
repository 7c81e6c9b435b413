"""Access tokens and legacy ``instance`` values, as the emulator issues and checks them.

Access tokens look like Wix's (spec §5): ``OauthNG.JWS.<header>.<payload>.<signature>``,
HS256 with a key only this emulator knows, so, as at Wix, token-info is the only way to
check one. Expiry is judged by the caller on the emulator clock, never by PyJWT on the wall
clock, so ``advance_clock`` really expires tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import jwt
from jwt.types import Options

from wixapp.emulator.instance_param import LegacyValue, read_unverified, sign_instance
from wixapp.emulator.records import APP_TOKEN_LIFETIME, Installation, MintedToken, Site
from wixapp.emulator.registry import Registry
from wixapp.emulator.timekeeping import wix_time
from wixapp.emulator.wix_errors import EmulatorConflictError, EmulatorError
from wixapp.models import SubjectType

__all__ = ["TOKEN_PREFIX", "TokenAuthority", "TokenClaims", "TokenSigner"]

TOKEN_PREFIX = "OauthNG.JWS."
_ALGORITHM = "HS256"
_NO_TIME_CHECKS: Options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
_SUBJECT_NAMESPACE = uuid.UUID("5f0e7a52-3c1e-4a8e-9b0e-7d1f2b6f4c11")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    token_id: str
    instance_id: str
    client_id: str
    subject_type: SubjectType
    subject_id: str
    site_id: str
    account_id: str | None
    iat: int
    exp: int
    generation: int  # the installation's generation: an uninstall kills older tokens


class TokenSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, claims: TokenClaims) -> str:
        return TOKEN_PREFIX + jwt.encode(asdict(claims), self._key, algorithm=_ALGORITHM)

    def read(self, token: str) -> TokenClaims | None:
        """The claims of a token this emulator signed, whatever its age; None otherwise."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        try:
            raw = jwt.decode(
                token[len(TOKEN_PREFIX) :], self._key, [_ALGORITHM], options=_NO_TIME_CHECKS
            )
            return TokenClaims(**{**raw, "subject_type": SubjectType(raw["subject_type"])})
        except (jwt.PyJWTError, TypeError, ValueError, KeyError):
            return None


class TokenAuthority:
    """Mints, unbinds, revokes and judges the tokens of the registry's installations."""

    def __init__(
        self,
        *,
        registry: Registry,
        signer: TokenSigner,
        new_id: Callable[[], str],
        now: Callable[[], float],
    ) -> None:
        self._registry = registry
        self._signer = signer
        self._new_id = new_id
        self._now = now
        self._revoked: set[str] = set()

    def mint_token(
        self,
        instance_id: str,
        subject_type: SubjectType | str = SubjectType.VISITOR,
        *,
        lifetime: float = float(APP_TOKEN_LIFETIME),
        subject_id: str | None = None,
        app_id: str | None = None,
    ) -> MintedToken:
        """A token for this instance, as a widget (VISITOR/MEMBER), panel (USER) or app gets.

        ``app_id`` makes a token that names another app as clientId: what a token minted
        for a different app looks like (spec §2 trust rules).
        """
        installation = self._registry.installation(instance_id)
        if not installation.installed:
            raise EmulatorConflictError(f"Instance {instance_id} is not installed.")
        subject = _subject_type(subject_type)
        client_id = self._registry.app(app_id).app_id if app_id else installation.app_id
        site = self._registry.site(installation.site_id)
        iat = int(self._now())
        claims = TokenClaims(
            token_id=self._new_id(),
            instance_id=instance_id,
            client_id=client_id,
            subject_type=subject,
            subject_id=subject_id or self._subject_id(subject, installation, site),
            site_id=site.site_id,
            account_id=site.owner_id if subject is SubjectType.USER else None,
            iat=iat,
            exp=int(self._now() + lifetime),
            generation=self._registry.generation(instance_id),
        )
        token = self._signer.sign(claims)
        return MintedToken(
            token=token,
            exp=claims.exp,
            subject_type=subject,
            subject_id=claims.subject_id,
            instance_id=instance_id,
        )

    def unbind_token(self, token: str) -> MintedToken:
        """A new token for the same caller and instance (``strip_bound_session``).

        It lives as long as the token it replaces (Wix does not document the lifetime),
        and dies with the installation, as every token of the instance does.
        """
        claims = self.introspect(token)
        if claims is None:
            raise EmulatorError("That token is not active: it cannot be unbound.")
        unbound = replace(claims, token_id=self._new_id(), iat=int(self._now()))
        return MintedToken(
            token=self._signer.sign(unbound),
            exp=unbound.exp,
            subject_type=unbound.subject_type,
            subject_id=unbound.subject_id,
            instance_id=unbound.instance_id,
        )

    def revoke_token(self, token: str) -> None:
        claims = self._signer.read(token)
        if claims is None:
            raise EmulatorError("That is not a token this emulator issued.")
        self._revoked.add(claims.token_id)

    def sign_legacy_instance(
        self,
        instance_id: str,
        *,
        permissions: str | None = "OWNER",
        uid: str | None = None,
        site_member_id: str | None = None,
    ) -> str:
        """A legacy ``instance`` parameter value (spec §8) signed with the app's secret."""
        installation = self._registry.installation(instance_id)
        site = self._registry.site(installation.site_id)
        data = {
            "instanceId": instance_id,
            "appDefId": installation.app_id,
            "signDate": wix_time(self._now()),
            "uid": uid or (site.owner_id if permissions == "OWNER" else None),
            "permissions": permissions,
            "siteOwnerId": site.owner_id,
            "siteMemberId": site_member_id,
            "vendorProductId": installation.package_name,
            "aid": self._new_id(),
            "demoMode": False,
        }
        present = {key: value for key, value in data.items() if value is not None}
        return sign_instance(present, self._registry.app(installation.app_id).app_secret)

    def introspect(self, token: str) -> TokenClaims | None:
        """The claims of a token that is active right now (on the emulator clock), else None."""
        claims = self.peek(token)
        if claims is None or claims.token_id in self._revoked or self._now() >= claims.exp:
            return None
        installation = self._registry.find_installation(claims.instance_id)
        if installation is None or not installation.installed:
            return None
        return (
            claims if claims.generation == self._registry.generation(claims.instance_id) else None
        )

    def peek(self, token: str) -> TokenClaims | None:
        """What a token or legacy value claims, verified but whatever its state."""
        claims = self._signer.read(token)
        return claims if claims is not None else self._read_legacy(token)

    def _subject_id(self, subject: SubjectType, installation: Installation, site: Site) -> str:
        if subject is SubjectType.APP:  # stable per instance, like Wix's app identity
            return str(uuid.uuid5(_SUBJECT_NAMESPACE, f"app:{installation.instance_id}"))
        if subject is SubjectType.USER:
            return site.owner_id
        return self._new_id()

    def _read_legacy(self, value: str) -> TokenClaims | None:
        legacy = read_unverified(value)
        if legacy is None:
            return None
        app = self._registry.find_app(legacy.app_id or "")
        installation = self._registry.find_installation(legacy.instance_id)
        if app is None or installation is None or installation.app_id != app.app_id:
            return None
        return (
            self._legacy_claims(legacy, installation)
            if legacy.signed_with(app.app_secret)
            else None
        )

    def _legacy_claims(self, legacy: LegacyValue, installation: Installation) -> TokenClaims:
        """The caller the value names. Legacy values carry no expiry: signDate + 4 h here."""
        site = self._registry.site(installation.site_id)
        signed = legacy.signed_at
        iat = int(signed) if signed is not None else int(self._now())
        subject = legacy.subject_type
        return TokenClaims(
            token_id="",
            instance_id=installation.instance_id,
            client_id=installation.app_id,
            subject_type=subject,
            subject_id=legacy.subject_id or self._subject_id(subject, installation, site),
            site_id=site.site_id,
            account_id=site.owner_id if subject is SubjectType.USER else None,
            iat=iat,
            exp=iat + APP_TOKEN_LIFETIME,
            generation=self._registry.generation(installation.instance_id),
        )


def _subject_type(value: SubjectType | str) -> SubjectType:
    try:
        return SubjectType(str(value).upper())
    except ValueError:
        names = ", ".join(SubjectType)
        raise EmulatorError(f"subject_type must be one of {names}.") from None
