"""Command line: ``python -m kubesim serve [--sample] [--kubeconfig PATH] ...``."""

import argparse
import os
import signal
import sys
import threading

from kubesim.cluster import SAMPLE_FIXTURE, KubeSim
from kubesim.store import Settings


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="kubesim", description="Kubernetes API server emulator for tests and demos.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator until SIGINT/SIGTERM")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--kubeconfig", default=os.environ.get("KUBESIM_KUBECONFIG", ".kubesim/kubeconfig"),
                       help="where to write a kubeconfig for the emulator (default: $KUBESIM_KUBECONFIG or .kubesim/kubeconfig)")
    serve.add_argument("--sample", action="store_true", help="load the sample workloads fixture")
    serve.add_argument("--seed", action="append", default=[], metavar="FILE", help="YAML/JSON manifests to load (repeatable)")
    serve.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    serve.add_argument("--token", help="require this bearer token")
    serve.add_argument("--no-controllers", action="store_true", help="do not run the workload/volume controllers")
    serve.add_argument("--authorization", choices=("allow-all", "rbac"), default="allow-all",
                       help="rbac: kube's RBAC authorizer, impersonation checked (the kubeconfig then holds an admin token "
                            "or, with --tls, the admin client certificate); default allow-all: every request allowed")
    serve.add_argument("--prerelease", action="store_true", help="also serve alpha and beta API versions")
    serve.add_argument("--compact-objects", action="store_true", help="keep stored objects as JSON bytes only (benchmarks with a million objects)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cluster = KubeSim(token=args.token, use_tls=args.tls, include_prerelease=args.prerelease, run_controllers=not args.no_controllers,
                      settings=Settings(compact_objects=args.compact_objects), authorization=args.authorization)
    url = cluster.start(args.host, args.port, state_dir=os.path.join(os.path.dirname(os.path.abspath(args.kubeconfig)), "pki"))
    for path in ([SAMPLE_FIXTURE] if args.sample else []) + args.seed:
        cluster.seed_file(path)
    cluster.settle(30)
    cluster.write_kubeconfig(args.kubeconfig)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sys.stdout.write("kubesim ready at %s (kubeconfig: %s)\n" % (url, args.kubeconfig))
    sys.stdout.flush()
    stop.wait()
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
