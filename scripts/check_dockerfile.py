#!/usr/bin/env python3
"""Offline checks of examples/Dockerfile (no Docker engine needed), run by scripts/check_release.sh.

    check_dockerfile.py DOCKERFILE DEB      the runtime stage installs exactly the .deb's Depends (which
                                            scripts/release.sh derives from the built binary), runs as a non-root
                                            user, has a HEALTHCHECK; the build stage copies no Package.resolved
                                            (not in git) and every target directory the manifest declares
    check_dockerfile.py --healthcheck DOCKERFILE
                                            prints the HEALTHCHECK's shell script (check_release.sh runs it in the
                                            clean Debian root against a running exporter)
"""
import fnmatch
import json
import os
import shlex
import subprocess
import sys


def instructions(path):
    """(instruction, arguments) pairs, with line continuations joined and comments dropped."""
    result, current = [], ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not current and (line.strip().startswith("#") or not line.strip()):
            continue
        if line.strip().startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.strip().partition(" ")
        result.append((keyword.upper(), rest.strip()))
        current = ""
    return result


def stages(path):
    """List of stages, each a list of (instruction, arguments) starting with its FROM."""
    out = []
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, rest))
    return out


def apt_installs(run):
    """Packages named by every `apt-get install` in a RUN command."""
    packages = []
    for command in run.replace("&&", ";").replace("||", ";").split(";"):
        words = shlex.split(command)
        if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
            for word in words[words.index("install") + 1:]:
                if not word.startswith("-"):
                    packages.append(word)
    return packages


def deb_depends(deb):
    depends = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], check=True, capture_output=True, text=True).stdout
    names = []
    for entry in depends.split(","):
        if "|" in entry:
            sys.exit(f"check_dockerfile.py: alternatives in Depends are not supported: {entry.strip()}")
        name = entry.split("(")[0].strip()
        if name:
            names.append(name)
    return names


def healthcheck_script(stage):
    for keyword, rest in stage:
        if keyword == "HEALTHCHECK":
            cmd = rest[rest.index("CMD") + 3:].strip()
            args = json.loads(cmd) if cmd.startswith("[") else ["/bin/sh", "-c", cmd]
            if args[:2] not in (["/bin/bash", "-c"], ["/bin/sh", "-c"], ["bash", "-c"], ["sh", "-c"]):
                sys.exit(f"check_dockerfile.py: HEALTHCHECK is not a shell script: {args}")
            return args[2]
    return None


def dockerignore_patterns(dockerfile):
    ignore = dockerfile + ".dockerignore"
    if not os.path.exists(ignore):
        ignore = ".dockerignore"
    if not os.path.exists(ignore):
        return []
    return [l.strip() for l in open(ignore, encoding="utf-8") if l.strip() and not l.startswith("#")]


def main():
    if sys.argv[1:2] == ["--healthcheck"]:
        script = healthcheck_script(stages(sys.argv[2])[-1])
        if script is None:
            sys.exit("check_dockerfile.py: the runtime stage has no HEALTHCHECK")
        print(script)
        return
    dockerfile, deb = sys.argv[1], sys.argv[2]
    all_stages = stages(dockerfile)
    build, runtime = all_stages[0], all_stages[-1]
    problems = []

    installed = sorted(set(p for keyword, rest in runtime if keyword == "RUN" for p in apt_installs(rest)))
    depends = sorted(set(deb_depends(deb)))
    if installed != depends:
        problems.append("runtime stage installs %s; the .deb depends on %s (only in the Dockerfile: %s; only in the .deb: %s)"
                        % (" ".join(installed), " ".join(depends), " ".join(sorted(set(installed) - set(depends))) or "-",
                           " ".join(sorted(set(depends) - set(installed))) or "-"))
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problems.append("the runtime stage does not run as a non-root USER")
    if healthcheck_script(runtime) is None:
        problems.append("the runtime stage has no HEALTHCHECK")

    copied = []
    for keyword, rest in build:
        if keyword == "COPY" and "--from" not in rest:
            words = shlex.split(rest)
            copied += [w.rstrip("/") for w in words[:-1] if not w.startswith("--")]
    if any(os.path.basename(c) == "Package.resolved" for c in copied):
        problems.append("the build stage copies Package.resolved, which is not in git")
    ignored = dockerignore_patterns(dockerfile)
    manifest = json.loads(subprocess.run(["swift", "package", "dump-package"], check=True, capture_output=True,
                                         text=True).stdout)
    for target in manifest["targets"]:
        path = target.get("path") or ("Tests/" if target["type"] == "test" else "Sources/") + target["name"]
        if not any(path == c or path.startswith(c + "/") for c in copied):
            problems.append(f"target {target['name']} ({path}) is not copied into the build stage")
        if any(fnmatch.fnmatch(part, pattern) for pattern in ignored for part in [path, path.split("/")[0]]):
            problems.append(f"target {target['name']} ({path}) is excluded by the .dockerignore")

    if problems:
        for problem in problems:
            print(f"{dockerfile}: {problem}", file=sys.stderr)
        sys.exit(1)
    print(f"{dockerfile}: runtime packages = the .deb's Depends ({' '.join(depends)}); non-root USER {users[-1]}; "
          f"HEALTHCHECK; build stage has all {len(manifest['targets'])} targets and no Package.resolved")


if __name__ == "__main__":
    main()
