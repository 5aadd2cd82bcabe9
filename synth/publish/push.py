"""Push a published folder to a Hugging Face dataset repository with huggingface_hub.

`create_repo(repo_type="dataset", private=..., exist_ok=True)` then `upload_folder` of the files publish
manages (README.md, publish.json, data/**, plots/**), deleting the repository's data/ and plots/ files that the
folder no longer has (a re-published config may have fewer shards; a stale shard would match the card's
globs). The token comes from `token`, else HF_TOKEN or the saved `hf auth login` (huggingface_hub's lookup).

huggingface_hub retries some requests itself; this wraps the whole create + upload in one bounded retry on
transient failures (HTTP 429 and 5xx, connection errors and timeouts), honouring Retry-After. Rerunning the
upload is safe: files whose content the repository already has are skipped by huggingface_hub.
"""

from __future__ import annotations

import fnmatch
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synth.publish.options import PublishError

ALLOW_PATTERNS = ["README.md", "publish.json", "data/**", "plots/**"]
DELETE_PATTERNS = ["data/**", "plots/**"]
_TRANSIENT_NAMES = {"TransportError", "TimeoutException", "ConnectError", "ConnectionError"}


def upload_plan(folder: Path) -> list[tuple[str, int]]:
    """(path in repo, bytes) of every file push would upload, sorted."""
    folder = Path(folder)
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and any(fnmatch.fnmatch(rel, pat) for pat in ALLOW_PATTERNS):
            out.append((rel, p.stat().st_size))
    return out


def is_transient(e: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(e, HfHubHTTPError):
        code = getattr(e.response, "status_code", None)
        return code is not None and (code == 429 or code >= 500)
    names = {c.__name__ for c in type(e).__mro__}
    return bool(names & _TRANSIENT_NAMES) or isinstance(e, ConnectionError | TimeoutError)


def _retry_after(e: BaseException) -> float | None:
    headers = getattr(getattr(e, "response", None), "headers", None) or {}
    try:
        return float(str(headers.get("Retry-After")))
    except ValueError:
        return None


def with_retries(
    fn: Callable[[], Any], *, attempts: int, base_delay_s: float, sleep: Callable[[float], None] = time.sleep
) -> Any:
    """fn(), again after a transient failure (exponential backoff with jitter), at most `attempts` times."""
    for k in range(1, attempts + 1):
        try:
            return fn()
        except Exception as e:
            if k == attempts or not is_transient(e):
                raise
            delay = _retry_after(e) or base_delay_s * 2 ** (k - 1) * (1 + random.random() / 2)
            print(f"[publish] transient failure ({type(e).__name__}: {e}); retry {k}/{attempts - 1} "
                  f"in {delay:.1f}s")  # fmt: skip
            sleep(min(delay, 60.0))
    raise AssertionError("unreachable")


def push_folder(
    folder: Path,
    repo_id: str,
    *,
    private: bool = True,
    token: str | None = None,
    endpoint: str | None = None,
    commit_message: str | None = None,
    attempts: int = 5,
    base_delay_s: float = 2.0,
) -> str:
    """Create the dataset repository if needed and upload the folder; returns the commit URL."""
    from huggingface_hub import HfApi, constants, get_token

    folder = Path(folder)
    if not (folder / "README.md").exists():
        raise PublishError(f"{folder}: no README.md: publish the folder before pushing it")
    if constants.is_offline_mode():
        raise PublishError("HF_HUB_OFFLINE is set: unset it to push to the Hub")
    if token is None and get_token() is None:
        raise PublishError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi(endpoint=endpoint, token=token)

    def attempt() -> str:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            repo_type="dataset",
            allow_patterns=ALLOW_PATTERNS,
            delete_patterns=DELETE_PATTERNS,
            commit_message=commit_message or "Publish with synth publish",
        )
        return str(getattr(info, "commit_url", info))

    return str(with_retries(attempt, attempts=attempts, base_delay_s=base_delay_s))


def fetch_published(url: str, dest: Path) -> Path:
    """A published folder on shared storage (s3://…) copied into dest, so a new publish merges into it."""
    from synth.store.remote import RemoteStore

    store = RemoteStore(url)
    if store.fs.exists(store.root):
        store.fs.get(store.root + "/", str(dest) + "/", recursive=True)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def push_to_url(folder: Path, url: str) -> int:
    """Write a published folder to an fsspec URL (s3://bucket/prefix); returns the number of files written.

    The same files as a Hub push (ALLOW_PATTERNS); data/ and plots/ files the folder no longer has are deleted
    afterwards, for the same reason (a stale shard would match the card's globs). Files go up before any
    deletion, so a reader never sees a config without its shards.
    """
    from synth.store.remote import RemoteStore

    store = RemoteStore(url)
    plan = upload_plan(folder)
    for rel, _ in plan:
        store.fs.put_file(str(Path(folder) / rel), f"{store.root}/{rel}")
    keep = {rel for rel, _ in plan}
    existing = store.fs.find(store.root) if store.fs.exists(store.root) else []
    for path in existing:
        rel = path[len(store.root) + 1 :]
        if rel not in keep and any(fnmatch.fnmatch(rel, pat) for pat in DELETE_PATTERNS):
            store.fs.rm_file(path)
    return len(plan)
