"""``tar`` run by pods/exec in a container that mounts PersistentVolumeClaims, as GNU tar behaves.

``tar -c -C <dir> .`` streams an archive of the volume's tree under <dir> (a mount path or a directory
below it) to stdout; ``tar -x -C <dir>`` reads an archive from stdin and writes its members into the
volume, with their modes and times. A read-only mount refuses every member with GNU tar's message and
exit status 2. Only archives on stdin/stdout (``-f -`` or no -f) and claim mounts are modelled: another
path of the container's file system is a directory that does not exist.

Spellings accepted: old style (``tar cf - -C /data .``, ``tar xvf -``), short clusters (``-cf -``,
``-xpf -``, ``-C/data``), long options (``--create``, ``--extract``, ``--file=-``, ``--directory /data``),
and the flags a copy uses that change nothing here (-p, -o, -m, -S, --numeric-owner, --same-owner,
--no-same-owner, --preserve-permissions, --overwrite, --warning=..., ...); -v lists names (on stderr when
the archive goes to stdout, as GNU tar does).
"""

import posixpath

from kubesim.pod_volumes import absolute_path, mount_for
from kubesim.tar_format import TarError, archive_chunks, entry_from_member, member_name, read_members
from kubesim.volume_backend import DIRECTORY_MODE, FileTreeError, TreeEntry

EXIT_FAILURE = 2  # GNU tar's "fatal error" status
_TRY_HELP = "Try 'tar --help' or 'tar --usage' for more information."
_SHORT_WITH_ARGUMENT = {"f": "file", "C": "directory", "b": "blocking-factor"}
_SHORT_FLAGS = {"c": "create", "x": "extract", "v": "verbose", "p": None, "o": None, "m": None, "S": None, "h": None, "k": None, "U": None}
_LONG_FLAGS = {"create": "create", "extract": "extract", "get": "extract", "verbose": "verbose", "numeric-owner": "numeric-owner",
               "preserve-permissions": None, "same-permissions": None, "no-same-permissions": None, "same-owner": None, "no-same-owner": None,
               "overwrite": None, "overwrite-dir": None, "no-overwrite-dir": None, "touch": None, "sparse": None, "one-file-system": None,
               "ignore-failed-read": None, "unlink-first": None, "recursive-unlink": None, "delay-directory-restore": None,
               "no-delay-directory-restore": None, "ignore-zeros": None, "keep-old-files": None, "skip-old-files": None}
_LONG_WITH_ARGUMENT = {"file": "file", "directory": "directory", "blocking-factor": "blocking-factor", "record-size": None, "warning": None,
                       "owner": None, "group": None, "mode": None, "mtime": None, "exclude": None, "format": None}


class TarUsageError(Exception):
    """The command line tar refuses before reading or writing anything; ``lines`` is its stderr."""

    def __init__(self, *lines):
        super().__init__(lines[0])
        self.lines = lines


class TarInvocation:
    """A parsed tar command line."""

    def __init__(self):
        self.operation = None  # "create" or "extract"
        self.archive = "-"
        self.directory = "/"
        self.members = []
        self.verbose = False
        self.numeric_owner = False

    def set(self, option, value=None):
        if option in ("create", "extract"):
            if self.operation not in (None, option):
                raise TarUsageError("You may not specify more than one '-Acdtrux', '--delete' or  '--test-label' option", _TRY_HELP)
            self.operation = option
        elif option == "verbose":
            self.verbose = True
        elif option == "numeric-owner":
            self.numeric_owner = True
        elif option == "file":
            self.archive = value
        elif option == "directory":
            self.directory = absolute_path(value, self.directory)


def is_tar(command):
    """Whether the argv runs tar (``tar``, ``/bin/tar``, ``/usr/bin/tar``)."""
    return bool(command) and posixpath.basename(command[0]) == "tar"


def parse_tar(argv):
    """The TarInvocation of a tar argv; raises TarUsageError with GNU tar's words."""
    invocation, args = TarInvocation(), list(argv[1:])
    if args and args[0] and not args[0].startswith("-"):
        letters, args = args[0], args[1:]  # old style: "cf" takes its arguments from the words that follow, in order
        for letter in letters:
            if letter in _SHORT_WITH_ARGUMENT:
                if not args:
                    raise TarUsageError("option requires an argument -- '%s'" % letter, _TRY_HELP)
                invocation.set(_SHORT_WITH_ARGUMENT[letter], args.pop(0))
            elif letter in _SHORT_FLAGS:
                invocation.set(_SHORT_FLAGS[letter])
            else:
                raise TarUsageError("invalid option -- '%s'" % letter, _TRY_HELP)
    while args:
        arg = args.pop(0)
        if arg == "--":
            invocation.members.extend(args)
            break
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            if name in _LONG_FLAGS and not has_value:
                invocation.set(_LONG_FLAGS[name])
            elif name in _LONG_WITH_ARGUMENT:
                if not has_value:
                    if not args:
                        raise TarUsageError("option '--%s' requires an argument" % name, _TRY_HELP)
                    value = args.pop(0)
                invocation.set(_LONG_WITH_ARGUMENT[name], value)
            else:
                raise TarUsageError("unrecognized option '%s'" % arg, _TRY_HELP)
        elif arg.startswith("-") and len(arg) > 1:
            cluster = arg[1:]
            while cluster:
                letter, cluster = cluster[0], cluster[1:]
                if letter in _SHORT_WITH_ARGUMENT:
                    if not cluster:
                        if not args:
                            raise TarUsageError("option requires an argument -- '%s'" % letter, _TRY_HELP)
                        cluster = args.pop(0)
                    invocation.set(_SHORT_WITH_ARGUMENT[letter], cluster)
                    cluster = ""
                elif letter in _SHORT_FLAGS:
                    invocation.set(_SHORT_FLAGS[letter])
                else:
                    raise TarUsageError("invalid option -- '%s'" % letter, _TRY_HELP)
        else:
            invocation.members.append(arg)
    if invocation.operation is None:
        raise TarUsageError("You must specify one of the '-Acdtrux', '--delete' or '--test-label' options", _TRY_HELP)
    if invocation.operation == "create" and not invocation.members:
        raise TarUsageError("Cowardly refusing to create an empty archive", _TRY_HELP)
    if invocation.archive != "-":
        raise TarUsageError("%s: Cannot open: kubesim models archives on stdin and stdout only (-f -)" % invocation.archive,
                            "Error is not recoverable: exiting now")
    return invocation


class TarProcess:
    """One tar run against a pod's claim mounts. ``io`` supplies write_stdout(bytes), write_stderr(bytes), stdin (read(size)) and chunk_size."""

    def __init__(self, argv, mounts, backend, io):
        self.argv, self.mounts, self.backend, self.io = argv, mounts, backend, io
        self.failed = False
        self.fatal = False  # the error message said "not recoverable": no closing summary line

    def run(self):
        """Run to the end; the exit status."""
        try:
            invocation = parse_tar(self.argv)
            if invocation.operation == "create":
                self._create(invocation)
            else:
                self._extract(invocation)
        except TarUsageError as error:
            self._complain(*error.lines)
            return EXIT_FAILURE
        if self.failed:
            if not self.fatal:
                self._complain("Exiting with failure status due to previous errors")
            return EXIT_FAILURE
        return 0

    def _complain(self, *lines):
        self.io.write_stderr("".join("tar: %s\n" % line for line in lines).encode())

    def _place(self, path):
        """(mount, path inside the volume) of an absolute container path; (None, None) outside the claims."""
        mount, inside = mount_for(self.mounts, path)
        if mount is not None:
            self.backend.ensure_volume(mount.handle)
        return mount, inside

    def _check_directory(self, directory):
        """Raise tar's refusal unless -C names a directory: one in a claim, or one above a mount path ("/", "/var" for /var/lib/data)."""
        mount, inside = self._place(directory)
        if mount is not None:
            if inside == mount.sub_path or self.backend.volume_tree(mount.handle).is_directory(inside):
                return
        elif any(m.mount_path.startswith(directory.rstrip("/") + "/") for m in self.mounts):
            return
        raise TarUsageError("%s: Cannot open: No such file or directory" % directory, "Error is not recoverable: exiting now")

    # ---- tar -c

    def _create(self, invocation):
        self._check_directory(invocation.directory)
        for chunk in archive_chunks(self._archived(invocation), self.io.chunk_size, invocation.numeric_owner):
            self.io.write_stdout(chunk)

    def _archived(self, invocation):
        """(archive name, TreeEntry) of every member named on the command line, each directory before its content."""
        for member in invocation.members:
            mount, path = self._place(absolute_path(member, invocation.directory))
            tree = self.backend.volume_tree(mount.handle) if mount is not None else None  # what this member archives: a consistent view
            if mount is None or not (path == mount.sub_path or tree.is_directory(path) or tree.get(path) is not None):
                self._complain("%s: Cannot stat: No such file or directory" % member)
                self.failed = True
                continue
            name = member.rstrip("/") or member
            if path == mount.sub_path or tree.is_directory(path):
                newest = max([entry.mtime for _, entry in tree.walk(path) if entry is not None] or [0])
                yield self._listed(invocation, name + "/", (tree.get(path) if path else None) or TreeEntry("dir", DIRECTORY_MODE, b"", newest))
                for relative, entry in tree.walk(path):
                    yield self._listed(invocation, name + "/" + relative, entry or TreeEntry("dir", DIRECTORY_MODE, b"", newest))
            else:
                yield self._listed(invocation, name, tree.get(path))

    def _listed(self, invocation, name, entry):
        if invocation.verbose:
            self.io.write_stderr((name + "\n").encode("utf-8", "surrogateescape"))  # the archive holds stdout
        return name, entry

    # ---- tar -x

    def _extract(self, invocation):
        self._check_directory(invocation.directory)
        try:
            for member in read_members(self.io.stdin):
                if invocation.members and not any(_selected(member[0], wanted) for wanted in invocation.members):
                    continue
                self._extract_member(invocation, member)  # written at once: what was extracted before an error stays, as on a disk
        except TarError as error:
            self._complain(*error.messages)
            self.failed, self.fatal = True, error.fatal

    def _extract_member(self, invocation, member):
        name, kind, mode, data, mtime, linkname = member
        try:
            relative = member_name(name)
        except FileTreeError:
            self._complain("%s: Member name contains '..'" % name)
            self.failed = True
            return
        if relative is None:
            return  # the archive's "./": the directory -C named, which exists
        mount, path = self._place(absolute_path(relative.rstrip("/"), invocation.directory))
        if mount is None or path == mount.sub_path:
            if mount is None:
                self._complain("%s: Cannot open: No such file or directory" % name)
                self.failed = True
            return
        if mount.read_only:
            verb = {"dir": "Cannot mkdir", "link": "Cannot create symlink to '%s'" % linkname,
                    "hardlink": "Cannot hard link to '%s'" % linkname}.get(kind, "Cannot open")
            self._complain("%s: %s: Read-only file system" % (name, verb))
            self.failed = True
            return
        if invocation.verbose:
            self.io.write_stdout((name + "\n").encode("utf-8", "surrogateescape"))
        if kind == "hardlink":
            target = self._hard_link_target(invocation, linkname)
            if target is None:
                self._complain("%s: Cannot hard link to '%s': No such file or directory" % (name, linkname))
                self.failed = True
                return
            self.backend.put_entry(mount.handle, path, target)
        elif kind == "other":
            self._complain("%s: Cannot mknod: Operation not permitted" % name)
            self.failed = True
        else:
            self.backend.put_entry(mount.handle, path, entry_from_member(kind, mode, data, mtime, linkname))

    def _hard_link_target(self, invocation, linkname):
        """The stored file an archive's hard link names (a member extracted before it), or None."""
        try:
            relative = member_name(linkname)
        except FileTreeError:
            return None
        mount, path = self._place(absolute_path((relative or "").rstrip("/"), invocation.directory))
        if mount is None:
            return None
        found = self.backend.volume_entry(mount.handle, path)
        return found if found is not None and found.kind != "dir" else None


def _selected(name, wanted):
    """Whether archive member ``name`` is one the command line asked for (the member itself or below it)."""
    name, wanted = name.strip("/"), wanted.strip("/")
    return name == wanted or name.startswith(wanted + "/")
