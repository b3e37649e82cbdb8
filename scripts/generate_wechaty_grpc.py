"""Regenerate bridge/wechat/puppet/proto/ from the puppet-service protocol's .proto files.

    .venv/bin/pip install "grpcio-tools==1.74.0"     # once; not a dependency of the bridge
    .venv/bin/python scripts/generate_wechaty_grpc.py

The protocol is wechaty's own: its definitions ship as .proto files in the npm package
`wechaty-grpc`, at the version `wechaty-puppet-service` 1.19.9 (our gateway's server) uses. The
files are taken from the gateway's installed node_modules when that is the right version, else
from `npm pack wechaty-grpc@<version>`. The generated code is committed, so installing the bridge
needs neither npm nor grpcio-tools.

What changes on the way, and why:
- the google.api HTTP and openapiv2 annotations are stripped: they only serve wechaty's REST
  gateway, never the wire, and would drag in googleapis protos we do not ship;
- the files are compiled under the path `bridge/wechat/puppet/proto/`, so the generated modules import
  each other as `bridge.wechat.puppet.proto.wechaty...` and never as a top-level `wechaty` package. The
  proto package names (`wechaty`, `wechaty.puppet`), and so every method name on the wire, are
  unchanged.

The grpcio-tools version sets the floors in pyproject.toml: its gencode needs a grpcio and a
protobuf runtime at least as new (grpcio-tools 1.74.0: grpcio>=1.74, protobuf>=6.31.1).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

WECHATY_GRPC_VERSION = "1.5.2"
GRPCIO_TOOLS_VERSION = "1.74.0"

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = ROOT / "gateway" / "node_modules" / "wechaty-grpc"
PREFIX = Path("bridge") / "wechat" / "puppet" / "proto"
OUT = ROOT / PREFIX

_ANNOTATION_IMPORTS = re.compile(r'^import "(google/api/|protoc-gen-openapiv2/)[^"]*";\n', re.MULTILINE)
_OPTION_START = re.compile(r"option \((google\.api\.http|grpc\.gateway\.protoc_gen_openapiv2\.[\w.]+)\) = \{")


def strip_annotations(text: str) -> str:
    """The proto text without the HTTP/openapiv2 annotation imports and `option (...) = {...};` blocks."""
    text = _ANNOTATION_IMPORTS.sub("", text)
    while (match := _OPTION_START.search(text)) is not None:
        depth, index = 0, match.end() - 1
        while True:  # the block's closing brace, counting nested ones (strings hold none that matter)
            if text[index] == "{":
                depth += 1
            elif text[index] == "}":
                depth -= 1
                if depth == 0:
                    break
            index += 1
        end = index + 1
        if text[end:end + 1] == ";":
            end += 1
        text = text[:match.start()] + text[end:]
    return text


def proto_sources(workdir: Path) -> Path:
    """The `proto/` folder of wechaty-grpc at WECHATY_GRPC_VERSION."""
    package = INSTALLED / "package.json"
    if package.is_file() and json.loads(package.read_text())["version"] == WECHATY_GRPC_VERSION:
        return INSTALLED / "dist" / "esm" / "proto"
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(f"wechaty-grpc {WECHATY_GRPC_VERSION} is not in {INSTALLED} and npm is not on PATH")
    subprocess.run([npm, "pack", f"wechaty-grpc@{WECHATY_GRPC_VERSION}", "--silent"], cwd=workdir, check=True)
    [tarball] = workdir.glob("wechaty-grpc-*.tgz")
    with tarfile.open(tarball) as archive:
        archive.extractall(workdir, filter="data")
    return workdir / "package" / "dist" / "esm" / "proto"


def main() -> None:
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError:
        sys.exit(f'grpcio-tools is missing: pip install "grpcio-tools=={GRPCIO_TOOLS_VERSION}"')
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = proto_sources(work)
        tree = work / "tree"
        files = []
        for proto in sorted(source.rglob("*.proto")):
            relative = proto.relative_to(source)
            target = tree / PREFIX / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            text = strip_annotations(proto.read_text(encoding="utf-8"))
            text = text.replace('import "wechaty/', f'import "{PREFIX.as_posix()}/wechaty/')
            target.write_text(text, encoding="utf-8")
            files.append(str(target.relative_to(tree)))
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        well_known = Path(grpc_tools.__file__).parent / "_proto"
        status = protoc.main(["protoc", f"-I{tree}", f"-I{well_known}", f"--python_out={ROOT}",
                              f"--pyi_out={ROOT}", f"--grpc_python_out={ROOT}", *files])
        if status != 0:
            sys.exit(f"protoc failed ({status})")
    for stub in OUT.rglob("*_pb2_grpc.py"):
        if "class PuppetStub" not in stub.read_text(encoding="utf-8"):
            stub.unlink()  # a file of messages only: its stub module is empty
    for folder in [OUT, *(p for p in OUT.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (OUT / "__init__.py").write_text(
        f'"""Generated by scripts/generate_wechaty_grpc.py from wechaty-grpc {WECHATY_GRPC_VERSION} '
        f'(grpcio-tools {GRPCIO_TOOLS_VERSION}); do not edit."""\n\n'
        f'WECHATY_GRPC_VERSION = "{WECHATY_GRPC_VERSION}"\n', encoding="utf-8")
    print(f"generated {OUT.relative_to(ROOT)} from wechaty-grpc {WECHATY_GRPC_VERSION}")


if __name__ == "__main__":
    main()
