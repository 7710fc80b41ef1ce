"""The report and the inspector on conversations: turns per conversation, tokens per role and
the rules conversations failed; a conversation shown turn by turn, a preference pair side by
side."""

from __future__ import annotations

from pathlib import Path


def _section(run: Path, title: str):  # type: ignore[no-untyped-def]
    from goldpan.report import build_report

    return next(s for s in build_report(run).sections if s.title == title)


def test_the_report_counts_turns_tokens_per_role_and_the_rules_that_failed(chat_run: Path
                                                                           ) -> None:
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    from goldpan.data.chat_records import conversations
    from goldpan.report.page import Figure, Table
    from goldpan.score.tokenize import tokenizer_file

    section = _section(chat_run, "Conversations")
    assert sum(isinstance(b, Figure) for b in section.blocks) == 2  # turns, tokens per role
    tables = {tuple(b.headers): b for b in section.blocks if isinstance(b, Table)}
    roles = tables[("role", "turns", "words", "tokens")]
    rules = tables[("step", "rule", "conversations")]
    assert ("role", "turns", "distinct-1", "distinct-2") in tables
    kept = [t for f in sorted((chat_run / "output").glob("*.parquet"))
            for c in conversations(pq.read_table(f).column("messages")) for t in c]
    tokenizer = Tokenizer.from_file(str(tokenizer_file("smollm2-135m-instruct")[0]))
    for role, turns, _, tokens in roles.rows:
        contents = [t["content"] for t in kept if t["role"] == role]
        assert turns == len(contents)
        assert tokens == sum(len(e.ids) for e in tokenizer.encode_batch(
            contents, add_special_tokens=False))
    reasons = {row[1]: row[2] for row in rules.rows}
    assert reasons["read:bad_messages:not_a_list"] == 1
    assert reasons["chat_filter:roles"] > 0


def test_a_text_run_has_no_conversation_section(curated_run: Path) -> None:
    from goldpan.report import build_report

    assert "Conversations" not in [s.title for s in build_report(curated_run).sections]


def test_the_preference_report_counts_each_side(preference_run: Path) -> None:
    from goldpan.report.page import Table

    section = _section(preference_run, "Conversations")
    table = next(b for b in section.blocks if isinstance(b, Table))
    assert table.headers == ["side", "role", "turns", "words"]
    assert {(row[0], row[1]) for row in table.rows} == {
        ("prompt", "user"), ("chosen", "assistant"), ("rejected", "assistant")}


def test_the_inspector_shows_a_conversation_turn_by_turn(chat_run: Path) -> None:
    from fastapi.testclient import TestClient

    from goldpan.report.inspector import create_app

    client = TestClient(create_app(chat_run))
    record = client.get("/api/record", params={"id": "sg-1"}).json()
    page = client.get("/record", params={"id": "sg-1"}).text
    assert 'id="conversation"' in page and 'id="record-text"' not in page
    assert page.count('class="turn role-') == len(record["messages"])
    assert page.index("role-user") < page.index("role-assistant")


def test_the_inspector_shows_a_preference_pair_side_by_side(preference_run: Path) -> None:
    from fastapi.testclient import TestClient

    from goldpan.report.inspector import create_app

    client = TestClient(create_app(preference_run))
    page = client.get("/record", params={"id": "conv"}).text
    assert 'id="pair"' in page
    chosen, rejected = page.index('id="chosen"'), page.index('id="rejected"')
    assert chosen < page.index("Water makes other things wet.") < rejected
    assert rejected < page.index("Who knows.")
