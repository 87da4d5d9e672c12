"""Background's replay-feed store: a good CSV is kept by content hash; a bad one raises its FeedError, naming
"the uploaded file" rather than where it was staged, and nothing is kept (the API answers it with a 422)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.feeds import FeedError, FeedErrorCode
from arena.service.background import UPLOADED, Background

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests/data/equities-daily-sample.csv"


@pytest.fixture
def background(redis_url: str, tmp_path: Path):
    work = Background(None, redis_url, workers=1, data_dir=tmp_path)  # type: ignore[arg-type] (no database used)
    yield work
    work.close()


def test_a_good_feed_is_kept_by_its_hash(background: Background, tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    stored = background.store_feed(data)
    assert Path(stored["feed"]).read_bytes() == data and stored["bytes"] == len(data)
    assert Path(stored["feed"]).name == f"{stored['sha256']}.csv" and "NVDA" in stored["symbols"]
    assert background.store_feed(data) == stored  # the same bytes, the same file


def test_a_bad_feed_raises_its_feed_error_naming_the_upload(background: Background, tmp_path: Path) -> None:
    bad = SAMPLE.read_bytes().replace(b"12.720000", b"-1", 1)
    with pytest.raises(FeedError) as caught:
        background.store_feed(bad)
    error = caught.value
    assert error.code is FeedErrorCode.BAD_NUMBER and error.path == UPLOADED and error.line == 2
    assert str(error).startswith(f"{UPLOADED}:2: BAD_NUMBER: ") and str(tmp_path) not in str(error)
    assert list((tmp_path / "feeds").iterdir()) == []  # nothing kept, not even the staging file
