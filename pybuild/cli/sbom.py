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


def source_date_epoch() -> int | None:
    """$SOURCE_DATE_EPOCH as an integer, or None when unset (a bad value is one line)."""
    import os

    from pybuild.errors import ConfigError

    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"SOURCE_DATE_EPOCH={raw!r}: not a number of seconds") from None
    if value < 0:
        raise ConfigError(f"SOURCE_DATE_EPOCH={raw!r}: negative")
    return value


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

    from pybuild.oci.transport import is_transport_spec
    from pybuild.sbom.image import sbom

    options: dict[str, Any] = {k: v for k, v in {"tls_verify": tls_verify, "creds": creds, "authfile": authfile,
                                                 "cert_dir": cert_dir}.items() if v is not None}
    store = None if is_transport_spec(image) else opts.open_store()
    data = sbom(store, image, format_, platform=platform, epoch=source_date_epoch(), **options)
    if output:
        from pybuild.oci.layout import atomic_write_file

        atomic_write_file(output, data)
        return
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
