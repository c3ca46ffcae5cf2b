"""Engine profiles: what a Docker Engine 20.10 or 29 answers that the other does not.

Verified in moby's source (tags v20.10.24 and docker-v29.0.2): the version middleware
(api/server/middleware/version.go, daemon/server/middleware/version.go), the /version and /info
handlers (daemon/info.go, daemon/server/router/system/system_routes.go) and the API's changelog
(docs/api/version-history.md, now api/docs/CHANGELOG.md). docs/engine-api.md lists every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.simulator.model import ApiError

Version = tuple[int, ...]


def parse_version(text: str) -> Version:
    """As moby's versions.compare: dot-separated integers, a part that is not one counts as 0."""
    return tuple(int(part) if part.isdigit() else 0 for part in text.split("."))


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    engine: str  # Engine version, as /version and the Server header say it
    api: str  # the highest (and default) API version
    min_api: str
    git_commit: str
    go_version: str
    build_time: str
    platform: str
    components: tuple[tuple[str, str, str], ...]  # (name, version, GitCommit) after the Engine
    storage_driver: str

    @property
    def max_version(self) -> Version:
        return parse_version(self.api)

    @property
    def legacy(self) -> bool:
        """Engine 20.10: answers as API 1.41 whatever the request's version."""
        return self.max_version <= (1, 41)

    def check(self, asked: str | None) -> Version:
        """The request's API version, or Docker's 400 when the daemon does not serve it.

        An unversioned request is served as the daemon's default (its highest) version, so /_ping and
        /version always answer without a prefix; with a prefix they are checked like every endpoint.
        """
        if asked is None:
            return self.max_version
        version = parse_version(asked)
        if version < parse_version(self.min_api):
            raise ApiError(
                400,
                f"client version {asked} is too old. Minimum supported API version is {self.min_api}, "
                "please upgrade your client to a newer version",
            )
        if version > self.max_version:
            raise ApiError(400, f"client version {asked} is too new. Maximum supported API version is {self.api}")
        return version

    def invalid_filter(self, key: str) -> ApiError:
        # 20.10: api/types/filters ("Invalid filter"); 29: daemon/internal/filters ("invalid filter")
        return ApiError(400, f"{'Invalid' if self.legacy else 'invalid'} filter '{key}'")

    def malformed_filters(self, detail: str) -> ApiError:
        # 20.10 passes Go's JSON error through as a 500; 29 answers a 400 with no detail
        return ApiError(500, detail) if self.legacy else ApiError(400, "invalid filter")

    def malformed_body(self, detail: str) -> ApiError:
        return ApiError(400, detail if self.legacy else f"invalid JSON: {detail}")

    def headers(self) -> dict[str, str]:
        return {
            "Api-Version": self.api,
            "Docker-Experimental": "false",
            "Ostype": "linux",
            "Server": f"Docker/{self.engine} (linux)",
        }

    def ping_headers(self) -> dict[str, str]:
        headers = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
        if not self.legacy:  # both unversioned additions of API 1.42 (Engine 22.06+)
            headers |= {"Builder-Version": "2", "Swarm": "active/manager"}
        return headers

    def version_doc(self, kernel: str) -> dict[str, Any]:
        details = {
            "ApiVersion": self.api,
            "Arch": "amd64",
            "BuildTime": self.build_time,
            "Experimental": "false",
            "GitCommit": self.git_commit,
            "GoVersion": self.go_version,
            "KernelVersion": kernel,
            "MinAPIVersion": self.min_api,
            "Os": "linux",
        }
        components = [{"Name": "Engine", "Version": self.engine, "Details": details}]
        components += [{"Name": n, "Version": v, "Details": {"GitCommit": c}} for n, v, c in self.components]
        platform = {"Name": self.platform}
        if self.legacy:  # types.Version of 20.10: Components before Version, Os after GoVersion
            return {
                "Platform": platform,
                "Components": components,
                "Version": self.engine,
                "ApiVersion": self.api,
                "MinAPIVersion": self.min_api,
                "GitCommit": self.git_commit,
                "GoVersion": self.go_version,
                "Os": "linux",
                "Arch": "amd64",
                "KernelVersion": kernel,
                "BuildTime": self.build_time,
            }
        return {  # system.VersionResponse of 29
            "Platform": platform,
            "Version": self.engine,
            "ApiVersion": self.api,
            "MinAPIVersion": self.min_api,
            "Os": "linux",
            "Arch": "amd64",
            "Components": components,
            "GitCommit": self.git_commit,
            "GoVersion": self.go_version,
            "KernelVersion": kernel,
            "BuildTime": self.build_time,
        }

    def info_extras(self, version: Version) -> dict[str, Any]:
        """/info fields that came after API 1.41, as daemon/server/router/system/system_routes.go gates them."""
        if self.legacy:
            return {}
        extras: dict[str, Any] = {"CDISpecDirs": []}  # API 1.44
        if version >= (1, 46):
            extras["Containerd"] = {
                "Address": "/run/containerd/containerd.sock",
                "Namespaces": {"Containers": "moby", "Plugins": "plugins.moby"},
            }
        if version >= (1, 49):
            extras["FirewallBackend"] = {"Driver": "iptables"}
        return extras


PROFILES = {
    "20.10": Profile(
        name="20.10",
        engine="20.10.24",
        api="1.41",
        min_api="1.12",
        git_commit="5d6db84",
        go_version="go1.19.8",
        build_time="2023-04-04T08:49:31.000000000+00:00",
        platform="",
        components=(),
        storage_driver="overlay2",
    ),
    # Engine 29.0 and 29.1 serve 1.52 (minimum 1.44); 29.2 serves 1.53 and 29.3 lowered the minimum to 1.40
    "29": Profile(
        name="29",
        engine="29.0.2",
        api="1.52",
        min_api="1.44",
        git_commit="e9ff10b",
        go_version="go1.25.4",
        build_time="2025-11-16T16:26:01.000000000+00:00",  # the tag's commit time
        platform="Docker Engine - Community",
        components=(
            ("containerd", "v2.1.5", "fcd43222d6b07379a4be9786bda52438f0dd16a1"),
            ("runc", "1.3.3", "v1.3.3-0-gd842d771"),
            ("docker-init", "0.19.0", "de40ad0"),
        ),
        storage_driver="overlayfs",
    ),
}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"engine must be one of {', '.join(PROFILES)}, not {name!r}") from None
