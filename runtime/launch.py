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
    else:
        return build_image_container(opts, opts.image)
    apply_options(spec, opts)
    return Container(
        id=opts.name or new_container_id(),
        spec=spec,
        rootless=opts.rootless,
        lower=lower,
        keep=opts.keep,
        without=opts.without,
    )


def build_image_container(opts: RunOptions, reference: str, store_root: str | None = None) -> Container:
    """An image's layers under an overlay, its config as the process (the OCI image spec's
    conversion to a runtime config: Entrypoint + Cmd, a command after -- replacing Cmd; Env;
    WorkingDir; User)."""
    from boxtrace.runtime.images.resolve import needs_copy, resolve
    from boxtrace.runtime.options import resolve_user
    from boxtrace.runtime.spec import DEFAULT_PATH

    image = resolve(reference, store_root)
    config = image.config
    spec = default_spec(image.lowers[0])
    env = [e for e in config.get("Env") or [] if "=" in e]
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")  # Docker adds it too: images may rely on it
    if not any(e.startswith("HOME=") for e in env):
        env.append("HOME=/root")
    spec.process.env = env
    spec.process.cwd = config.get("WorkingDir") or "/"
    if config.get("User"):
        spec.process.user = resolve_user(config["User"], image.lowers)
    apply_options(spec, opts, roots=image.lowers)
    spec.process.args = list(config.get("Entrypoint") or []) + list(opts.command or config.get("Cmd") or [])
    if not spec.process.args:
        raise RuntimeUsageError(
            f"image {image.name} has no command (no Entrypoint or Cmd in its config): "
            f"give one after --, e.g. boxtrace run {reference} -- /bin/sh -c 'echo hi'"
        )
    container = Container(
        id=opts.name or new_container_id(),
        spec=spec,
        rootless=opts.rootless,
        lower=image.lowers,
        keep=opts.keep,
        without=opts.without,
    )
    reason = needs_copy(image, opts.rootless)
    if reason is not None:
        # Base layer first: the order the layers are applied in.
        container.lower = None
        container.copy_layers = list(reversed(image.lowers))
        container.notes.append(f"image {image.name}: {reason}")
    return container


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
