"""Copy staged HSM files into a local folder with the transfer engine: resumable, verified.

Each file streams into a partial file in ``<folder>/.awiml-partial`` (the
transfer engine resumes it after a dropped connection, or in the next call),
is checked against its size, and is then renamed to its final name, which
only ever holds a complete file. An existing file with other content is
never replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from ..._files import file_digest, publish
from ..._progress import progress_bar
from ...errors import TransferError
from ..base import RemoteFile
from ..transfer import RetryPolicy, download, partial_size

__all__ = ["PARTIAL_FOLDER", "copy_into"]

#: Where partial files wait, inside the target folder (same file system as the files).
PARTIAL_FOLDER = ".awiml-partial"


def copy_into(remotes: Sequence[RemoteFile], folder: Path, *, policy: RetryPolicy | None,
              progress: bool, workers: int = 4) -> list[Path]:
    """Copy ``remotes`` into ``folder`` under their names; return the files, in order.

    Up to ``workers`` files are copied at a time, each over its own SFTP
    channel of the one connection. A file already there with the same
    content is kept; one with other content raises
    :class:`~awiml.errors.TransferError` and stays as it is; the first error
    stops the other copies (their partial files stay, to be resumed).
    """
    from concurrent.futures import ThreadPoolExecutor

    partial_dir = folder / PARTIAL_FOLDER
    counted = {r.name: partial_size(r, partial_dir) for r in remotes}
    cancel = threading.Event()
    bar = progress_bar(enabled=bool(progress and remotes),
                       total=sum(r.size or 0 for r in remotes), initial=sum(counted.values()),
                       unit="B", unit_scale=True, unit_divisor=1024,
                       desc=f"copy {len(remotes)} file{'s' if len(remotes) != 1 else ''}",
                       leave=True)

    def copy_one(remote: RemoteFile) -> Path:
        result = download(remote, partial_dir, policy=policy, progress=bar.update,
                          cancel=cancel, counted=counted[remote.name])
        dest = folder.joinpath(*remote.name.split("/"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            if file_digest(dest) != result.sha256:
                result.path.unlink(missing_ok=True)
                raise TransferError(
                    f"{dest} exists with other content than {remote.source}; it is kept "
                    "as it is. Remove or rename it, or copy into another folder.")
            result.path.unlink(missing_ok=True)
        else:
            publish(result.path, dest, replace=False)
        return dest

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(int(workers), len(remotes))),
                                thread_name_prefix="awiml-hsm-copy") as pool:
            futures = [pool.submit(copy_one, remote) for remote in remotes]
            try:
                written = [future.result() for future in futures]
            except BaseException:
                cancel.set()
                for future in futures:
                    future.cancel()
                raise
    finally:
        bar.close()
    if partial_dir.is_dir() and not any(partial_dir.iterdir()):
        partial_dir.rmdir()
    return written
