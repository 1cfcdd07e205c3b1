r"""A loopback HSM: AWI's tape archive over SSH, with SFTP, ``sls -D`` and ``stage``.

:class:`HSMServer` is a real SSH server on ``127.0.0.1``, built on asyncssh: pure
Python, it runs in the test process, in a daemon thread with its own event loop,
serves SFTP and exec commands on one port, and needs no root and no system
``sshd``. Its host key is generated for each server
(``asyncssh.generate_private_key``), so clients in tests connect with
``known_hosts=None`` (asyncssh, sshfs), or pin :attr:`HSMServer.host_key`.

What it serves
--------------
* Logins by password or public key: the users given to the server, ``alice``
  with password ``secret`` by default, more with :meth:`HSMServer.add_user`.
  Wrong credentials are refused as by any SSH server. Every attempt is logged
  in :attr:`HSMServer.logins` (without the password).
* SFTP rooted at the server's folder, which stands for the archive's ``/``:
  ``/hs/projects/x/a.nc`` is ``root/hs/projects/x/a.nc``. Listing, ``stat``,
  reading, writing, renaming and removing work as on any SFTP server.
* Exec commands, as ``ssh <host> <command>``; there is no login shell (a
  shell request gets a message and exit status 1) and any other command gets
  exit status 127, like a restricted shell:

  - ``sls -D <paths>`` prints each file's state in the layout of the ``sls``
    manual page (``awiml.archives.hsm.parse_sls`` reads it): ``offline;`` for
    files only on tape, ``archdone;`` for archived files, one ``copy N:`` line
    per archive copy with its volume (VSN), or ``section N:`` lines for a copy
    that spans volumes. A folder lists its files (with a heading line when
    several paths are given). A missing path: a message on standard error,
    exit status 1, the others still printed.
  - ``stage [-r] [-w] <paths>`` queues a recall of the offline files among
    the paths (``-r``: the files below folders) in one request and returns
    at once, or with ``-w`` when they are online. Missing paths: a message,
    exit status 1, the others still staged.

  Every command is logged in :attr:`HSMServer.commands` with its exit status.

The tape model
--------------
Files added with :meth:`HSMServer.add_file` have archive copies on volumes
(VSNs) and are offline until staged (``online=True`` adds them staged
already). Files written over SFTP, or put into the folder directly, are online
and have no archive copy yet, as before the archiver's first run.

A stage request queues each offline file's copy 1. ``drives`` drives each
take the volume of the oldest waiting request that no other drive holds,
mount it (``mount_time`` seconds), read its waiting files in order of their
position (``size / read_rate`` seconds each, files requested meanwhile
included) and unload it when none is left; a file on several volumes is read
section by section. The real library's minutes per mount are scaled down by
the settings; :attr:`HSMServer.mounts` records every mount in seconds of the
server's own clock (:meth:`HSMServer.clock`), so a test can check the drive
limit and the order without measuring wall-clock time.

Opening an offline file over SFTP for reading starts its recall and reads
wait until it is online, as on the real system (an implicit recall, one
mount per file when done in a loop). With ``implicit_recall=False`` the open
fails instead, with a message to stage the file first.

What it assumes about AWI's HSM
-------------------------------
* The archive runs Versity ScoutAM, with SAM-QFS's user commands ``sls`` and
  ``stage``; their output and options here follow SAM-QFS's manual pages.
  Only ``sls -D`` is answered (no ``-2``, ``-R``), and ``stage`` knows
  ``-r`` and ``-w`` only; paths are not globbed.
* Files and folders are reached over SFTP on the same host, with the
  archive's paths (``/hs/...``).
* A volume is never kept mounted idle (the worst case of a busy library).
* Owner, group (``hsm``) and dates in ``sls -D`` are the emulator's own;
  copies are on media ``lt``, all written when the file was added.

Faults
------
:meth:`HSMServer.inject` takes an :class:`HSMFault` and a pattern of archive
paths (or user names), like :meth:`awiml.testing.FileServer.inject`:

* ``HSMFault.drop_after(nbytes)``: the connection is closed when an SFTP read
  of a matching file would pass ``nbytes``;
* ``HSMFault.stall(delay, after_bytes=0)``: a read pauses after
  ``after_bytes``; with ``command="sls"`` or ``"stage"``, the command waits
  ``delay`` seconds before it answers;
* ``HSMFault.refuse(message=None, command="stage")``: the command prints the
  message on standard error and exits with status 1, doing nothing;
* ``HSMFault.quota()``: the first SFTP write to a matching file fails with
  "Disk quota exceeded";
* ``HSMFault.deny_login()``: the next login of a matching user is refused
  even with the right credentials.
"""

from ._tape import MountRecord
from .server import CommandRecord, HSMFault, HSMServer, LoginRecord

__all__ = ["CommandRecord", "HSMFault", "HSMServer", "LoginRecord", "MountRecord"]
