"""From run options to a finished container: pick the image, build the spec, run, report errors.

Every user mistake ends here as one line on stderr and exit code 2; a failed container step as one
line and 125 (126/127 when the command cannot be run), like `docker run`.
"""

from __future__ import annotations

import os
import sys

from boxtrace.runtime import container as container_steps
from boxtrace.runtime.container import Container
from boxtrace.runtime.errors import ContainerError, RuntimeUsageError
from boxtrace.runtime.options import RunOptions, apply_options, new_container_id
from boxtrace.runtime.spec import default_spec, load_bundle_spec


def build_container(opts: RunOptions) -> Container:
    if opts.image is None:
        from boxtrace.runtime.image import default_image

        lower: str | None = default_image()
        spec = default_spec(lower or "")
    elif os.path.isfile(os.path.join(opts.image, "config.json")):
        lower = None
        spec = load_bundle_spec(opts.image)
    elif os.path.isdir(opts.image):
        raise RuntimeUsageError(
            f"{opts.image} is a directory without config.json: give an OCI bundle (make one with 'runc spec')"
        )
    else:
        raise RuntimeUsageError(
            f"unknown image {opts.image!r}: give an OCI bundle directory, or no image for the default one "
            f"(a command goes after --, e.g. boxtrace run -- sh -c 'echo hi')"
        )
    apply_options(spec, opts)
    return Container(
        id=opts.name or new_container_id(), spec=spec, rootless=opts.rootless, lower=lower, keep=opts.keep
    )


def run_with_options(opts: RunOptions) -> int:
    try:
        return container_steps.run(build_container(opts))
    except RuntimeUsageError as exc:
        print(f"boxtrace: error: {exc}", file=sys.stderr)
        return 2
    except ContainerError as exc:
        print(f"boxtrace: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("boxtrace: interrupted; the container was removed", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"boxtrace: error: {exc}", file=sys.stderr)
        return 125
