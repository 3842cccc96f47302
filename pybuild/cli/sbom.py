"""`pybuild sbom IMAGE`: the software bill of materials of an image, offline (like syft).

IMAGE is a store image (name or ID) or any transport (``oci:DIR:tag``, ``docker://REF``,
``oci-archive:``, ``docker-archive:``, ``dir:``). The document goes to stdout, or to
``--output FILE``; its time is $SOURCE_DATE_EPOCH when set (reproducible), else now.
"""

from __future__ import annotations

from typing import Any

import click

from pybuild.cli.common import GlobalOptions, pass_globals
from pybuild.cli.pflag import command


@command("sbom")
@click.option("--format", "format_", type=click.Choice(["spdx-json", "cyclonedx-json"]), default="spdx-json",
              help="Document format: SPDX 2.3 JSON or CycloneDX 1.5 JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the document to FILE instead of stdout.")
@click.option("--platform", default=None, help="OS/ARCH[/VARIANT] to pick from an index (default: this host).")
@click.option("--tls-verify", is_flag=True, default=None, help="Verify TLS certificates (default: true, "
              "except for localhost).")
@click.option("--creds", default=None, help="USER[:PASSWORD] for the registry.")
@click.option("--authfile", type=click.Path(), default=None, help="Credentials file (auth.json).")
@click.option("--cert-dir", type=click.Path(), default=None, help="CA and client certificates.")
@click.argument("image")
@pass_globals
def sbom_cmd(opts: GlobalOptions, format_: str, output: str | None, platform: str | None,
             tls_verify: bool | None, creds: str | None, authfile: str | None, cert_dir: str | None,
             image: str) -> None:
    """List the packages in IMAGE (dpkg, apk, Python, npm, Go binaries) as SPDX or CycloneDX JSON."""
    import sys

    import pybuild

    options: dict[str, Any] = {k: v for k, v in {"tls_verify": tls_verify, "creds": creds, "authfile": authfile,
                                                 "cert_dir": cert_dir}.items() if v is not None}
    data = pybuild.sbom_of(image, store=opts.open_store, format=format_, platform=platform, output=output, **options)
    if output:
        return
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
