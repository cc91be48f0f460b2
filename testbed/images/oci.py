#!/usr/bin/env python3
"""Write container images as an OCI image layout in a tar archive, without a container daemon.

The archive imports into containerd with

    ctr -n k8s.io images import --platform linux/amd64 ARCHIVE

Standard library only. Layers are uncompressed tars (application/vnd.oci.image.layer.v1.tar), so a layer's
digest is also its diff_id.

Command line
------------
Make a layer tar from a directory tree (reproducible: the same tree gives the same bytes, hence the same
digest; see "Layer tars" below):

    oci.py layer DIR -o LAYER.tar [--mtime N]

Write an image archive from layers (layer tars and/or directories, bottom first, in the order given):

    oci.py image -o OUT.tar --ref docker.io/apache/spark:4.0.4 [--ref OTHER/NAME:TAG ...] \\
        --layer-tar base.tar --layer-dir ./spark-tree ... \\
        [--config-json config.json] [--user 185] [--workdir /opt/spark/work-dir] \\
        [--entrypoint-json '["/opt/entrypoint.sh"]'] [--cmd-json '[...]'] \\
        [--env K=V ...] [--label K=V ...] [--history TEXT ...] [--mtime N]

  --config-json FILE  an image config to start from: either a whole one (with "config") or just the inner
                      "config" object ({"User", "Env", "Entrypoint", "Cmd", "WorkingDir", "Labels", ...}).
                      The flags after it override or extend it. architecture/os are always amd64/linux and
                      rootfs.diff_ids always come from the layers.
  --ref NAME          a full reference. Each --ref becomes one entry of index.json pointing at the same
                      manifest, annotated with io.containerd.image.name=NAME (the name containerd gives the
                      image) and org.opencontainers.image.ref.name=<tag> (OCI's convention: the tag only).
  --history TEXT      one per layer, in order: a created_by description stored in the config's history.

Python API
----------
    import oci
    oci.make_layer("rootfs/", "base.tar")                     # -> sha256 hex digest of base.tar
    img = oci.Image(refs=["registry.k8s.io/pause:3.10.2"], layers=["pause-layer.tar"],
                    config={"User": "65535:65535", "Entrypoint": ["/pause"]})
    oci.write_archive("pause.tar", [img])                     # several Images may share one archive

Several images in one archive: containerd's importer turns every manifest descriptor of index.json that
carries io.containerd.image.name into an image of that name (client/import.go and core/transfer/image in
containerd 2.x), so one archive may hold several images, or one image under several names; a layer shared by
several images is stored once.

Layer tars
----------
Entries in a fixed order (depth first, parents before children, names sorted at each level), in PAX format, no leading "./" or "/"; every mtime set to --mtime (default 0); uid and
gid numeric (no user/group names); permission bits including setuid/setgid/sticky kept; symlinks kept as
symlinks; hard links (same inode seen again) stored as tar hard links to the first path; character/block
devices and FIFOs kept; sockets skipped; the security.capability extended attribute kept (as
SCHILY.xattr.*). The contents of dev/, proc/ and sys/ are left out, the directories themselves kept.
Ownership and modes are taken from the tree as it is on disk: prepare them (chown/chmod) before.
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile

MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_DIRS = ("dev", "proc", "sys")
CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
               "StopSignal")
CHUNK = 1 << 20


def _json_bytes(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class _HashingWriter:
    """A write-only file object that hashes what it passes on to f."""

    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)

    def tell(self):
        return self.n


def _walk_sub(root, rel):
    full = os.path.join(root, rel)
    for name in sorted(os.listdir(full)):
        r = f"{rel}/{name}"
        p = os.path.join(full, name)
        yield r, p
        if stat.S_ISDIR(os.lstat(p).st_mode):
            yield from _walk_sub(root, r)


def walk_tree(root):
    """Every entry under root as (relative path, absolute path): depth first, names sorted at each level,
    the contents of dev/, proc/ and sys/ (at the top) left out."""
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        yield name, p
        if stat.S_ISDIR(os.lstat(p).st_mode) and name not in EMPTY_DIRS:
            yield from _walk_sub(root, name)


def _tarinfo(rel, path, st, mtime, links):
    ti = tarfile.TarInfo(rel)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = mtime
    m = st.st_mode
    if stat.S_ISDIR(m):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(m):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(path)
    elif stat.S_ISREG(m):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            ti.type = tarfile.LNKTYPE
            ti.linkname = links[key]
        else:
            if st.st_nlink > 1:
                links[key] = rel
            ti.type = tarfile.REGTYPE
            ti.size = st.st_size
    elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(m) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(m):
        ti.type = tarfile.FIFOTYPE
    else:
        return None  # sockets
    if not stat.S_ISLNK(m):
        try:
            cap = os.getxattr(path, "security.capability", follow_symlinks=False)
        except OSError:
            cap = None
        if cap:
            # Go's archive/tar (containerd) reads these as PAX records. The value is binary: decoded with
            # surrogateescape, tarfile writes it back byte for byte (marking the header hdrcharset=BINARY).
            ti.pax_headers = {"SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape")}
    return ti


def make_layer(src_dir, out_path, mtime=0):
    """Write a reproducible uncompressed layer tar of the tree at src_dir to out_path.
    Returns the sha256 hex digest of the tar (its digest and diff_id)."""
    src_dir = os.path.abspath(src_dir)
    tmp = out_path + ".tmp"
    links = {}
    with open(tmp, "wb", buffering=CHUNK) as raw:
        hw = _HashingWriter(raw)
        # errors=surrogateescape keeps non-UTF-8 file names byte for byte.
        with tarfile.open(fileobj=hw, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",
                          errors="surrogateescape") as tar:
            for rel, path in walk_tree(src_dir):
                st = os.lstat(path)
                ti = _tarinfo(rel, path, st, mtime, links)
                if ti is None:
                    continue
                if ti.type == tarfile.REGTYPE:
                    with open(path, "rb") as f:
                        tar.addfile(ti, f)
                else:
                    tar.addfile(ti)
        digest = hw.h.hexdigest()
    os.replace(tmp, out_path)
    return digest


class Image:
    """One image: refs (full names), layers (paths of layer tars or directories, bottom first), config (the
    inner config object: User, Env, Entrypoint, Cmd, WorkingDir, Labels, ...), history (optional list of
    created_by strings, one per layer)."""

    def __init__(self, refs, layers, config=None, history=None):
        self.refs = list(refs)
        self.layers = list(layers)
        self.config = dict(config or {})
        self.history = list(history or [])


def _tag_of(ref):
    """The tag of a reference (OCI's ref.name convention), or the reference itself when it has none."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ref


def _add_bytes(tar, name, data, mtime):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, mtime
    tar.addfile(ti, io.BytesIO(data))


def write_archive(out_path, images, mtime=0, workdir=None):
    """Write the images as one OCI layout tar at out_path. Layer directories are turned into layer tars in
    a temporary directory first (under workdir, default next to out_path). Returns a list of
    (ref, manifest digest) pairs."""
    out_path = os.path.abspath(out_path)
    tmpdir = tempfile.mkdtemp(prefix=".oci-", dir=workdir or os.path.dirname(out_path))
    try:
        blobs = {}  # digest -> (path or None, bytes or None)
        layer_cache = {}
        index = []
        result = []
        for img in images:
            diff_ids, layer_descs = [], []
            for i, layer in enumerate(img.layers):
                key = os.path.abspath(layer)
                if key not in layer_cache:
                    if os.path.isdir(layer):
                        path = os.path.join(tmpdir, f"layer-{len(layer_cache)}.tar")
                        digest = make_layer(layer, path, mtime)
                    else:
                        path, digest = layer, _sha256_file(layer)
                    layer_cache[key] = (path, digest, os.path.getsize(path))
                path, digest, size = layer_cache[key]
                blobs.setdefault(digest, (path, None))
                diff_ids.append("sha256:" + digest)
                layer_descs.append({"mediaType": MT_LAYER, "digest": "sha256:" + digest, "size": size})
            config = {
                "architecture": "amd64",
                "os": "linux",
                "config": {k: v for k, v in img.config.items() if v is not None},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }
            if img.history:
                if len(img.history) != len(img.layers):
                    raise ValueError("give one history entry per layer")
                config["history"] = [{"created_by": h} for h in img.history]
            cfg = _json_bytes(config)
            cfg_digest = hashlib.sha256(cfg).hexdigest()
            blobs[cfg_digest] = (None, cfg)
            manifest = {
                "schemaVersion": 2,
                "mediaType": MT_MANIFEST,
                "config": {"mediaType": MT_CONFIG, "digest": "sha256:" + cfg_digest, "size": len(cfg)},
                "layers": layer_descs,
            }
            man = _json_bytes(manifest)
            man_digest = hashlib.sha256(man).hexdigest()
            blobs[man_digest] = (None, man)
            for ref in img.refs:
                index.append({
                    "mediaType": MT_MANIFEST,
                    "digest": "sha256:" + man_digest,
                    "size": len(man),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": _tag_of(ref),
                    },
                })
                result.append((ref, "sha256:" + man_digest))
        idx = _json_bytes({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": index})
        tmp_out = out_path + ".tmp"
        with tarfile.open(tmp_out, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}), mtime)
            _add_bytes(tar, "index.json", idx, mtime)
            for d in ("blobs", "blobs/sha256"):
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
                tar.addfile(ti)
            for digest in sorted(blobs):
                path, data = blobs[digest]
                name = "blobs/sha256/" + digest
                if data is not None:
                    _add_bytes(tar, name, data, mtime)
                else:
                    ti = tarfile.TarInfo(name)
                    ti.size, ti.mode, ti.mtime = os.path.getsize(path), 0o644, mtime
                    with open(path, "rb") as f:
                        tar.addfile(ti, f)
        os.replace(tmp_out, out_path)
        return result
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


class _Layers(argparse.Action):
    """Keeps --layer-tar and --layer-dir in one list, in command-line order."""

    def __call__(self, parser, ns, values, option_string=None):
        getattr(ns, "layers").append(values)


def _kv(items, what):
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"oci.py: {what} must be KEY=VALUE: {item!r}")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="oci.py", description="Write OCI image layouts as tar archives.")
    sub = p.add_subparsers(dest="cmd", required=True)

    pl = sub.add_parser("layer", help="make a reproducible layer tar from a directory")
    pl.add_argument("dir")
    pl.add_argument("-o", "--output", required=True)
    pl.add_argument("--mtime", type=int, default=0)

    pi = sub.add_parser("image", help="write an image archive")
    pi.add_argument("-o", "--output", required=True)
    pi.add_argument("--ref", action="append", required=True, help="full image name; repeatable")
    pi.set_defaults(layers=[])
    pi.add_argument("--layer-tar", action=_Layers, metavar="FILE", dest="_lt")
    pi.add_argument("--layer-dir", action=_Layers, metavar="DIR", dest="_ld")
    pi.add_argument("--config-json", metavar="FILE")
    pi.add_argument("--user")
    pi.add_argument("--workdir")
    pi.add_argument("--entrypoint-json", metavar="JSON")
    pi.add_argument("--cmd-json", metavar="JSON")
    pi.add_argument("--env", action="append", default=[], metavar="K=V")
    pi.add_argument("--label", action="append", default=[], metavar="K=V")
    pi.add_argument("--history", action="append", default=[], metavar="TEXT")
    pi.add_argument("--mtime", type=int, default=0)

    a = p.parse_args(argv)
    if a.cmd == "layer":
        print("sha256:" + make_layer(a.dir, a.output, a.mtime))
        return 0

    if not a.layers:
        p.error("give at least one --layer-tar or --layer-dir")
    cfg = {}
    if a.config_json:
        with open(a.config_json) as f:
            cfg = json.load(f)
        if "config" in cfg and isinstance(cfg["config"], dict):
            cfg = cfg["config"]
        unknown = set(cfg) - set(CONFIG_KEYS)
        if unknown:
            p.error(f"unknown config keys in {a.config_json}: {sorted(unknown)}")
    if a.user is not None:
        cfg["User"] = a.user
    if a.workdir is not None:
        cfg["WorkingDir"] = a.workdir
    if a.entrypoint_json is not None:
        cfg["Entrypoint"] = json.loads(a.entrypoint_json)
    if a.cmd_json is not None:
        cfg["Cmd"] = json.loads(a.cmd_json)
    if a.env:
        env = _kv(cfg.get("Env", []), "Env")
        env.update(_kv(a.env, "--env"))
        cfg["Env"] = [f"{k}={v}" for k, v in env.items()]
    if a.label:
        labels = dict(cfg.get("Labels") or {})
        labels.update(_kv(a.label, "--label"))
        cfg["Labels"] = labels
    img = Image(a.ref, a.layers, cfg, a.history)
    for ref, digest in write_archive(a.output, [img], a.mtime):
        print(f"{ref} {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
