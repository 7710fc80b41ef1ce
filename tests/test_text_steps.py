"""normalize, langid and pii on real text."""

from __future__ import annotations

import pyarrow as pa

from goldpan.curate.langid import LangId
from goldpan.curate.normalize import Normalize
from goldpan.curate.pii import Pii
from tests.realtext import article, batch, python_source, reasons, summaries


def normalized(texts: list[str], **options) -> list[str]:
    return Normalize(Normalize.Options(**options)).process(batch(texts)).column("text").to_pylist()


def test_normalize_repairs_mojibake_and_keeps_typography() -> None:
    original = "The café’s “special” — naïve"
    broken = original.encode("utf-8").decode("latin-1")
    assert normalized([broken]) == [original]


def test_normalize_nfc_and_control_characters_and_whitespace() -> None:
    decomposed = "Cafe\u0301 in Zu\u0308rich\x00\x07"
    messy = "First line   \r\nsecond\u00a0line\n\n\n\nthird\x1b"
    assert normalized([decomposed, messy]) == ["Café in Zürich", "First line\nsecond line\n\nthird"]
    assert normalized([decomposed], unicode_form=None, fix_encoding=False)[0].startswith(
        "Cafe\u0301"
    )


def test_normalize_keeps_code_indentation_unless_asked() -> None:
    code = python_source()
    assert "\n    " in normalized([code])[0]
    assert "    " not in normalized(["a    b"], collapse_inner_spaces=True)[0]


def test_normalize_rejects_texts_that_end_up_empty() -> None:
    step = Normalize()
    assert reasons(step, [" \n\t\x00 ", article(0)]) == ["normalize:empty", None]


def test_langid_finds_the_language_of_wikipedia_summaries() -> None:
    texts = summaries("en")[:20] + summaries("fr")[:20] + summaries("es")[:20]
    result = LangId(LangId.Options(languages=None)).process(batch(texts))
    langs = result.column("lang").to_pylist()
    assert langs[:20].count("en") >= 19
    assert langs[20:40].count("fr") >= 19
    assert langs[40:].count("es") >= 19
    assert all(0 < s <= 1 for s in result.column("lang_score").to_pylist())


def test_langid_keeps_listed_languages_above_the_threshold() -> None:
    texts = [summaries("en")[0], summaries("fr")[0], "ok"]
    step = LangId(LangId.Options(languages=["en"], threshold=0.65))
    assert reasons(step, texts)[:2] == [None, "langid:language"]
    scores = LangId(LangId.Options(languages=None)).process(batch(texts)).column("lang_score")
    english_score = scores.to_pylist()[0]
    strict = LangId(LangId.Options(languages=["en"], threshold=min(1.0, english_score + 0.001)))
    assert reasons(strict, texts[:1]) == ["langid:low_score"]


def test_langid_batch_results_do_not_depend_on_batch_mates() -> None:
    texts = summaries("en")[:5] + summaries("es")[:5]
    step = LangId(LangId.Options(languages=None))
    together = step.process(batch(texts)).column("lang").to_pylist()
    alone = [step.process(batch([t])).column("lang").to_pylist()[0] for t in texts]
    assert together == alone


def test_pii_redacts_emails_ips_and_phones_with_typed_placeholders() -> None:
    text = (
        "From: I3150101@dbstu1.rz.tu-bs.de (Benedikt Rosenau)\n"
        "Call +44 20 7946 0958 or (555) 123-4567, or 555-987-6543.\n"
        "The server at 192.168.10.25 and 2001:db8::8a2e:370:7334 answered; "
        "::1 is loopback.\nVersion 1.2.3 at 10:30:00 on 2023-01-15 is not PII."
    )
    result = Pii().process(batch([text]))
    redacted = result.column("text").to_pylist()[0]
    assert redacted == (
        "From: <EMAIL_ADDRESS> (Benedikt Rosenau)\n"
        "Call <PHONE_NUMBER> or <PHONE_NUMBER>, or <PHONE_NUMBER>.\n"
        "The server at <IP_ADDRESS> and <IP_ADDRESS> answered; "
        "<IP_ADDRESS> is loopback.\nVersion 1.2.3 at 10:30:00 on 2023-01-15 is not PII."
    )
    assert result.column("pii_email").to_pylist() == [1]
    assert result.column("pii_ip").to_pylist() == [3]
    assert result.column("pii_phone").to_pylist() == [3]


def test_pii_leaves_invalid_addresses_and_can_be_limited_to_kinds() -> None:
    text = "Not an IP: 999.300.1.1; mail me at ana@example.org."
    result = Pii(Pii.Options(kinds=["ip"])).process(batch([text]))
    assert result.column("text").to_pylist() == [text]
    assert result.column("pii_email").to_pylist() == [0]


def test_an_email_at_an_ip_literal_is_one_email_not_an_ip() -> None:
    text = "Write to user@123.123.123.123 or admin@[8.8.4.4] or root@[IPv6:2001:db8::1] now."
    result = Pii().process(batch([text]))
    assert result.column("text").to_pylist() == [
        "Write to <EMAIL_ADDRESS> or <EMAIL_ADDRESS> or <EMAIL_ADDRESS> now."]
    assert result.column("pii_email").to_pylist() == [3]
    assert result.column("pii_ip").to_pylist() == [0]


def test_pii_can_keep_private_and_reserved_ips_as_datatrove_does() -> None:
    text = ("Hosts 192.168.1.2, 10.0.0.1, 127.0.0.2, 169.254.0.1, 224.0.0.1 and ::1 are local; "
            "163.36.107.25 and 2a00:1450:4001::200e are not.")
    public_only = Pii(Pii.Options(ip_scope="public")).process(batch([text]))
    assert public_only.column("text").to_pylist() == [
        "Hosts 192.168.1.2, 10.0.0.1, 127.0.0.2, 169.254.0.1, 224.0.0.1 and ::1 are local; "
        "<IP_ADDRESS> and <IP_ADDRESS> are not."]
    assert public_only.column("pii_ip").to_pylist() == [2]
    assert Pii().process(batch([text])).column("pii_ip").to_pylist() == [8]  # the default


def test_pii_on_real_usenet_headers_finds_addresses() -> None:
    from goldpan.data.demo_corpus import usenet

    posts = [post["text"] for post in usenet()][:20]
    result = Pii().process(batch(posts))
    assert sum(result.column("pii_email").to_pylist()) >= 20
    assert all(
        "@" not in line
        for text in result.column("text").to_pylist()
        for line in text.splitlines()
        if line.startswith("From:")
    )


def test_pii_never_drops_a_record() -> None:
    table = Pii().process(batch(["a", ""]))
    assert "reject_reason" not in table.column_names
    assert table.num_rows == 2
    assert pa.types.is_large_string(table.schema.field("text").type)


def test_pii_with_presidio_redacts_the_same_kinds_offline() -> None:
    text = "Mail john.doe@example.com or call (555) 123-4567 from 192.168.1.20 today."
    result = Pii(Pii.Options(engine="presidio")).process(batch([text]))
    assert result.column("text").to_pylist() == [
        "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER> from <IP_ADDRESS> today."
    ]
    assert result.column("pii_email").to_pylist() == [1]
    assert result.column("pii_phone").to_pylist() == [1]
    assert result.column("pii_ip").to_pylist() == [1]
