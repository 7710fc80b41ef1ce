"""``pii``: redact e-mail addresses, IP addresses and phone numbers with typed placeholders.

Regular expressions find candidates; IP addresses are confirmed with ``ipaddress`` so version
strings and clock times are left alone. An address whose domain is an IP literal
(``user@1.2.3.4``, ``user@[1.2.3.4]``) is one e-mail address, not an IP inside one. All IP
addresses are redacted unless ``ip_scope: public`` keeps the private and reserved ones. Each
kind is counted in its own column (``pii_email``, ``pii_ip``, ``pii_phone``). With
``engine: presidio`` Microsoft Presidio's recognizers find them instead (``goldpan[pii]``), on
a blank spaCy pipeline unless a model is named; nothing is downloaded.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import cached_property
from typing import Literal

import pyarrow as pa
from pydantic import Field

from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_texts
from goldpan.errors import GoldpanError
from goldpan.util.domains import offline_domain_extractor

EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:"
    r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"  # a named domain
    r"|(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)"  # an IP-literal domain, user@1.2.3.4
    r"|\[(?:(?:\d{1,3}\.){3}\d{1,3}|IPv6:[0-9A-Fa-f:.]+)\]"  # RFC 5321, user@[1.2.3.4]
    r")"
)
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]\d{2,4}){1,4}"  # +44 20 7946 0958
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"  # (555) 123-4567
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
    r")(?![\w-])"
)

PLACEHOLDERS = {"email": "<EMAIL_ADDRESS>", "ip": "<IP_ADDRESS>", "phone": "<PHONE_NUMBER>"}
PRESIDIO_ENTITIES = {"EMAIL_ADDRESS": "email", "IP_ADDRESS": "ip", "PHONE_NUMBER": "phone"}


def _tldextract_offline() -> None:
    """Presidio's e-mail recognizer uses tldextract, which fetches the public suffix list on
    first use; the snapshot it ships is enough and no network call is made."""
    try:
        import tldextract
    except ImportError:
        return
    tldextract.tldextract.TLD_EXTRACTOR = offline_domain_extractor()


def _valid_ip(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _public_ip(candidate: str) -> bool:
    """An address someone on the internet could be reached at; private, loopback, link-local,
    multicast, reserved and unspecified ones are not personal (datatrove's
    ``public_ip_validator`` leaves the same ones alone)."""
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified)


class PiiOptions(StepOptions):
    kinds: list[Literal["email", "ip", "phone"]] = Field(
        ["email", "ip", "phone"], description="What to redact."
    )
    engine: Literal["regex", "presidio"] = Field(
        "regex", description="regex (fast, built in) or presidio (if installed)."
    )
    presidio_model: str | None = Field(
        None, description="spaCy model for presidio's NER (default: a blank pipeline, no NER)."
    )
    placeholders: dict[str, str] = Field(
        dict(PLACEHOLDERS), description="Replacement text per kind."
    )
    ip_scope: Literal["all", "public"] = Field(
        "all", description="Which IP addresses to redact: all, or only public ones (private, "
        "loopback, link-local, multicast and reserved kept, as datatrove does by default).",
    )


@register_step
class Pii(MapStep[PiiOptions]):
    """Redact e-mail addresses, IPv4/IPv6 addresses and phone numbers; count them per kind."""

    name = "pii"
    text_side = "all"
    rewrites_text = True

    def _substitute(
        self, pattern: re.Pattern, text: str, kind: str, accept: Callable[[str], bool] | None = None
    ) -> tuple[str, int]:
        found = 0
        placeholder = self.options.placeholders.get(kind, PLACEHOLDERS[kind])

        def replace(match: re.Match) -> str:
            nonlocal found
            if accept is not None and not accept(match.group(0)):
                return match.group(0)
            found += 1
            return placeholder

        return pattern.sub(replace, text), found

    def redact_regex(self, text: str) -> tuple[str, dict[str, int]]:
        kinds = self.options.kinds
        counts = dict.fromkeys(PLACEHOLDERS, 0)
        if "email" in kinds and "@" in text:
            text, counts["email"] = self._substitute(EMAIL, text, "email")
        if "ip" in kinds:
            accept = _public_ip if self.options.ip_scope == "public" else _valid_ip
            text, v4 = self._substitute(IPV4, text, "ip", accept)
            v6 = 0
            if "::" in text or text.count(":") >= 7:
                text, v6 = self._substitute(IPV6, text, "ip", accept)
            counts["ip"] = v4 + v6
        if "phone" in kinds:
            text, counts["phone"] = self._substitute(PHONE, text, "phone")
        return text, counts

    @cached_property
    def _presidio(self):
        try:
            import spacy
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import SpacyNlpEngine
        except ImportError:
            raise GoldpanError(
                "pii: engine presidio needs presidio-analyzer: pip install 'goldpan[pii]'"
            ) from None
        _tldextract_offline()
        model = self.options.presidio_model

        class LocalSpacy(SpacyNlpEngine):
            """Presidio would download a model it does not find; use what is installed."""

            def load(self) -> None:
                try:
                    self.nlp = {  # type: ignore[assignment]  # presidio declares it None until load
                        "en": spacy.load(model) if model else spacy.blank("en")}
                except OSError as error:
                    raise GoldpanError(f"pii: spaCy model {model!r} is not installed") from error

        engine = LocalSpacy(models=[{"lang_code": "en", "model_name": model or "blank"}])
        engine.load()
        return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])

    def redact_presidio(self, text: str) -> tuple[str, dict[str, int]]:
        wanted = {e for e, k in PRESIDIO_ENTITIES.items() if k in self.options.kinds}
        results = self._presidio.analyze(text=text, entities=sorted(wanted), language="en")
        counts = dict.fromkeys(PLACEHOLDERS, 0)
        for result in sorted(results, key=lambda r: r.start, reverse=True):
            kind = PRESIDIO_ENTITIES[result.entity_type]
            counts[kind] += 1
            placeholder = self.options.placeholders.get(kind, PLACEHOLDERS[kind])
            text = text[: result.start] + placeholder + text[result.end :]
        return text, counts

    def process(self, batch: pa.Table) -> pa.Table:
        redact = self.redact_presidio if self.options.engine == "presidio" else self.redact_regex
        texts: list[str] = []
        counts: dict[str, list[int]] = {kind: [] for kind in PLACEHOLDERS}
        for text in batch.column(TEXT).to_pylist():
            redacted, found = redact(text)
            texts.append(redacted)
            for kind in PLACEHOLDERS:
                counts[kind].append(found[kind])
        batch = with_texts(batch, texts)
        for kind, values in counts.items():
            batch = with_column(batch, f"pii_{kind}", pa.array(values, pa.int32()))
        return batch
