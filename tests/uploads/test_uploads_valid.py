"""Good uploads validate, hash by content alone, and round-trip through the store."""

from __future__ import annotations

import base64
import io
import os
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from arena.uploads import BotBundle, BundleStore, UploadLimits, content_hash, validate_upload
from arena.uploads.limits import MiB
from tests.uploads.craft import MAIN, make_tgz, make_zip, tar_entry, tar_file, tgz_of, zip_info, zip_of

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "bots").glob("*.py"))
PACKAGE = {
    "main.py": b"from arena_bot import run\nfrom strategy.signals import Signal\n\nrun(Signal)\n",
    "strategy/__init__.py": b"",
    "strategy/signals.py": b"from arena_bot import Bot\n\n\nclass Signal(Bot):\n    symbols = ('SPY',)\n",
    "strategy/params.json": b'{"window": 20}\n',
    "data/history.csv": b"ts,close\n1,100.0\n2,101.5\n",
    "README.md": "# My bot \u2014 notes\n".encode(),
}


def roundtrip(store: BundleStore, bundle: BotBundle) -> Path:
    folder = store.put(bundle)
    assert folder == store.path(bundle.sha256) and (folder / "main.py").is_file()
    assert store.load(bundle.sha256) == bundle
    return folder


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_bots_validate(example: Path, store: BundleStore) -> None:
    bundle = validate_upload(example.name, example.read_bytes())
    assert bundle.file_count == 1 and bundle.warnings == ()
    assert bundle.files["main.py"] == example.read_bytes()
    roundtrip(store, bundle)


def test_example_bots_in_one_archive(store: BundleStore) -> None:
    files = {"main.py": EXAMPLES[0].read_bytes()} | {f"more/{p.name}": p.read_bytes() for p in EXAMPLES}
    for filename, data in (("bots.zip", zip_of(files)), ("bots.tar.gz", tgz_of(files))):
        assert validate_upload(filename, data).files == files


def test_a_bot_with_its_model_files_validates_and_stores_them_byte_for_byte(store: BundleStore) -> None:
    """The example ML bot as contestants upload it (main.py and model.onnx), with the other model formats: the
    service keeps their bytes and never opens them (the bot loads them in its sandbox)."""
    ml = Path(__file__).parents[2] / "examples" / "ml"
    files = {"main.py": (ml / "main.py").read_bytes(), "model.onnx": (ml / "model.onnx").read_bytes(),
             "weights/layers.npz": zip_of({"w.npy": b"\x93NUMPY\x01\x00"}), "scaler.pkl": b"\x80\x04K\x01.",
             "features.json": b'{"lags": [1, 3, 10]}'}
    for filename, data in (("ml.zip", zip_of(files)), ("ml.tar.gz", tgz_of(files))):
        bundle = validate_upload(filename, data)
        assert bundle.files == files and bundle.warnings == ()
        folder = roundtrip(store, bundle)
        assert (folder / "model.onnx").read_bytes() == files["model.onnx"]


def test_single_file_zip_and_tgz_hash_alike(store: BundleStore) -> None:
    single = validate_upload("MyBot.PY", MAIN)
    zipped = validate_upload("bot.zip", zip_of({"main.py": MAIN}))
    tarred = validate_upload("bot.tgz", tgz_of({"main.py": MAIN}))
    assert single.sha256 == zipped.sha256 == tarred.sha256 == content_hash({"main.py": MAIN})
    assert single == zipped == tarred
    assert validate_upload("x.py", MAIN + b"\n").sha256 != single.sha256


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_package_with_subpackages(fmt: str, store: BundleStore) -> None:
    data = zip_of(PACKAGE) if fmt == "zip" else tgz_of(PACKAGE)
    bundle = validate_upload(f"bot.{fmt}", data)
    assert dict(bundle.files) == PACKAGE
    assert bundle.file_count == len(PACKAGE)
    assert bundle.total_bytes == sum(map(len, PACKAGE.values()))
    assert list(bundle.files) == sorted(PACKAGE)
    folder = roundtrip(store, bundle)
    assert (folder / "strategy" / "signals.py").read_bytes() == PACKAGE["strategy/signals.py"]


def test_tar_made_with_dot_prefix_and_folder_entries() -> None:
    """`tar czf bot.tgz -C bot .` writes ./, ./strategy/ and ./main.py."""
    members = [tar_entry(".", tarfile.DIRTYPE), tar_entry("./strategy", tarfile.DIRTYPE)]
    members += [tar_file(f"./{name}", data, mode=0o755, uid=0, mtime=123) for name, data in PACKAGE.items()]
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT):
        assert dict(validate_upload("bot.tgz", make_tgz(members, fmt)).files) == PACKAGE


def test_contiguous_tar_member_is_a_regular_file() -> None:
    info, data = tar_file("main.py", MAIN)
    info.type = tarfile.CONTTYPE
    assert validate_upload("bot.tgz", make_tgz([(info, data)])).files["main.py"] == MAIN


def test_one_wrapping_folder_is_unwrapped() -> None:
    """Zipping a folder in Finder or Explorer wraps everything in it; the bot's root is that folder."""
    wrapped = {f"my-bot/{name}": data for name, data in PACKAGE.items()}
    data = make_zip([("my-bot/", b""), *wrapped.items()])
    bundle = validate_upload("my-bot.zip", data)
    assert dict(bundle.files) == PACKAGE
    assert bundle.sha256 == content_hash(PACKAGE)


def test_archiver_litter_is_dropped() -> None:
    litter = {
        "__MACOSX/._main.py": b"\0\5\26\7",
        "__MACOSX/strategy/._signals.py": b"\0",
        ".DS_Store": b"\0\0\0\1Bud1",
        "strategy/__pycache__/signals.cpython-311.pyc": b"\xa7\r\r\n",
        "strategy/Thumbs.db": b"",
    }
    bundle = validate_upload("bot.zip", zip_of(PACKAGE | litter))
    assert dict(bundle.files) == PACKAGE and bundle.sha256 == content_hash(PACKAGE)
    assert sorted(bundle.ignored) == sorted(litter)


def test_zip_attributes_do_not_matter() -> None:
    """Unix modes (even setuid and executable bits), timestamps and DOS attributes are not part of a bot."""
    plain = validate_upload("a.zip", zip_of(PACKAGE))
    odd = make_zip(
        [(zip_info(name, 0o104755, date_time=(2001, 2, 3, 4, 5, 6)), data) for name, data in PACKAGE.items()]
    )
    stored = make_zip(PACKAGE.items(), zipfile.ZIP_STORED)
    assert validate_upload("b.zip", odd) == validate_upload("c.zip", stored) == plain


def test_python_source_details() -> None:
    bom = b"\xef\xbb\xbf" + MAIN
    assert validate_upload("bot.py", bom).files["main.py"] == bom  # stored as sent
    future = b"from __future__ import annotations\n" + MAIN + b"def f(x: Undefined) -> None: ...\n"
    validate_upload("bot.py", future)
    # this module compiles with no future flags of its own, so print is not a statement here either
    with pytest.raises(Exception, match="syntax_error"):
        validate_upload("bot.py", b"print 'py2'\n")
    data_files = {"main.py": MAIN, "prices.csv": b"caf\xe9\n", "blob.txt": bytes(range(256))}
    assert validate_upload("bot.zip", zip_of(data_files)).files["prices.csv"] == b"caf\xe9\n"  # only .py must be UTF-8


def test_entry_point_warning() -> None:
    assert validate_upload("bot.py", b"print('hi')\n").warnings == (
        "main.py does not import arena_bot; is it the bot's entry point?",
    )
    assert validate_upload("bot.py", b"import arena_bot.bot as sdk\n").warnings == ()


def test_nested_archive_is_just_a_file(store: BundleStore) -> None:
    """With archives allowed as data, a 42.zip-style nested bomb is stored as opaque bytes, never opened."""
    inner = zip_of({f"layer{i}.zip": zip_of({"z.txt": bytes(MiB)}) for i in range(16)})
    limits = UploadLimits(allowed_suffixes=UploadLimits().allowed_suffixes | {".zip"})
    bundle = validate_upload("bot.zip", zip_of({"main.py": MAIN, "data/42.zip": inner}), limits)
    assert bundle.files["data/42.zip"] == inner
    assert bundle.total_bytes == len(MAIN) + len(inner)
    assert (roundtrip(store, bundle) / "data" / "42.zip").read_bytes() == inner


def test_limits_are_inclusive() -> None:
    limits = UploadLimits(max_files=2, max_file_bytes=len(MAIN), max_unpacked_bytes=2 * len(MAIN))
    validate_upload("bot.zip", zip_of({"main.py": MAIN, "b.txt": MAIN}), limits)
    validate_upload("bot.py", b"#" * (5 * MiB))


def test_five_mib_archive_of_a_thousand_files_validates_in_under_a_second() -> None:
    """The budget: the largest allowed upload with the most files, mixed source and data."""
    sources = [p.read_bytes() for p in EXAMPLES]
    files = {"main.py": MAIN}
    for i in range(299):
        files[f"pkg{i % 10}/mod{i}.py"] = sources[i % len(sources)]
    for i in range(700):
        files[f"data/d{i // 100}/f{i}.csv"] = base64.b64encode(os.urandom(6800))
    data = zip_of(files)
    tgz = tgz_of(files)
    assert 4 * MiB < len(data) <= 5 * MiB and len(files) == 1000
    for filename, upload in (("bot.zip", data), ("bot.tgz", tgz)):
        timings = []
        for _ in range(3):  # best of three: the test machine is shared, and the budget is for the work itself
            started = time.perf_counter()
            bundle = validate_upload(filename, upload)
            timings.append(time.perf_counter() - started)
        assert bundle.file_count == 1000
        assert min(timings) < 1.0, f"{filename}: {timings}"


def test_validation_reads_nothing_from_disk_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    validate_upload("bot.tgz", tgz_of(PACKAGE))
    validate_upload("bot.zip", zip_of(PACKAGE))
    assert list(tmp_path.iterdir()) == []


def test_zip_with_data_descriptors_and_zip64() -> None:
    """Streamed zips (sizes after the data) and forced ZIP64 headers are ordinary zips."""
    buf = io.BytesIO()

    class Unseekable(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            return buf.write(b)

    with zipfile.ZipFile(Unseekable(), "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in PACKAGE.items():
            with archive.open(name, "w", force_zip64=True) as out:
                out.write(data)
    assert dict(validate_upload("bot.zip", buf.getvalue()).files) == PACKAGE
