"""GET /containers/{id}/json for the containers of tasks on node 1, as each engine writes it.

The 20.10 document is a real daemon's, for a swarm task on the default bridge network (see
tests/integration/test_simulator_shapes.py). Engine 29 at API 1.52 drops the top-level bridge fields
of NetworkSettings, KernelMemory(TCP) and an empty Config.OnBuild, and with its containerd image
store reports Storage instead of GraphDriver; below 1.52 it merges the old fields back through a Go
map, so that document's keys come out sorted (daemon/server/router/container/inspect.go).
"""

from __future__ import annotations

import hashlib
from typing import Any

from bench.simulator.model import JSON, Task, rfc3339, swarm_labels
from bench.simulator.profiles import Profile, Version

ZERO_TIME = "0001-01-01T00:00:00Z"
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats"]
MASKED_PATHS += ["/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
HEALTH_LOG = 5  # Docker keeps the last five results


def health(task: Task, healthcheck: JSON, now_ns: int) -> JSON:
    """State.Health: "starting" until the first check, then what the checks say (set_health may pin it)."""
    interval = int(healthcheck.get("Interval") or 30_000_000_000)
    end = now_ns if task.state == "running" else task.status_ns
    checks = max(0, (end - task.started_ns) // interval) if task.started_ns else 0
    if task.health:  # pinned by set_health: as if a check had just said so
        checks = max(checks, 1)
    status = "starting" if checks == 0 else task.health or "healthy"
    failing = 0 if status != "unhealthy" else min(checks, 3)
    log = []
    for n in range(max(0, checks - HEALTH_LOG), checks):
        start = task.started_ns + (n + 1) * interval
        bad = status == "unhealthy" and n >= checks - failing
        output = task.health_output if bad else ""
        log.append(
            {"Start": rfc3339(start), "End": rfc3339(start + 45_000_000), "ExitCode": int(bad), "Output": output}
        )
    return {"Status": status, "FailingStreak": failing, "Log": log}


def _state(task: Task, healthcheck: JSON | None, now_ns: int) -> JSON:
    running = task.state == "running"
    state: JSON = {
        "Status": "running" if running else ("created" if not task.started_ns else "exited"),
        "Running": running,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": task.pid if running else 0,
        "ExitCode": 0 if running else task.exit_code,
        "Error": "",
        "StartedAt": rfc3339(task.started_ns) if task.started_ns else ZERO_TIME,
        "FinishedAt": ZERO_TIME if running or not task.started_ns else rfc3339(task.status_ns),
    }
    if healthcheck is not None:
        state["Health"] = health(task, healthcheck, now_ns)
    return state


def _host_config(profile: Profile) -> JSON:
    host: JSON = {"Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}}}
    host |= {"NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}}
    host |= {"AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None}
    host |= {"CgroupnsMode": "host" if profile.legacy else "private", "Dns": None, "DnsOptions": None}
    host |= {"DnsSearch": None, "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private", "Cgroup": ""}
    host |= {"Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False}
    host |= {"ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864}
    host |= {"Runtime": "runc", "ConsoleSize": [0, 0], "Isolation": "default", "CpuShares": 0, "Memory": 0}
    host |= {"NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": None}
    host |= {"BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None}
    host |= {"BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0}
    host |= {"CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": None}
    host |= {"DeviceCgroupRules": None, "DeviceRequests": None}
    if profile.legacy:  # omitted when unset from API 1.42, removed in 1.52
        host |= {"KernelMemory": 0, "KernelMemoryTCP": 0}
    host |= {"MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None, "OomKillDisable": False}
    host |= {"PidsLimit": None, "Ulimits": [], "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0}
    host |= {"IOMaximumBandwidth": 0, "MaskedPaths": MASKED_PATHS, "ReadonlyPaths": READONLY_PATHS, "Init": False}
    return host


def _network(task: Task, profile: Profile, version: Version) -> JSON:
    n = int(task.id[-4:], 36) % 65000 + 2
    ip, mac = f"172.17.{n >> 8}.{n & 255}", f"02:42:ac:11:{n >> 8:02x}:{n & 255:02x}"
    endpoint_id, sandbox = f"{task.index:064x}", task.container_id[::-1]
    bridge: JSON = {"IPAMConfig": None, "Links": None, "Aliases": None}
    if profile.legacy:
        bridge |= {"NetworkID": "2f8c38d9174b7c0a8f8864f4835d169d77218f3be671dac3177f02bdabdee056"}
        bridge |= {"EndpointID": endpoint_id, "Gateway": "172.17.0.1", "IPAddress": ip, "IPPrefixLen": 16}
        bridge |= {"IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": mac}
        bridge["DriverOpts"] = None
    else:  # network.EndpointSettings of 29: DriverOpts and GwPriority (1.48) moved up, DNSNames (1.44)
        bridge |= {"DriverOpts": None, "GwPriority": 0}
        bridge |= {"NetworkID": "2f8c38d9174b7c0a8f8864f4835d169d77218f3be671dac3177f02bdabdee056"}
        bridge |= {"EndpointID": endpoint_id, "Gateway": "172.17.0.1", "IPAddress": ip, "MacAddress": mac}
        bridge |= {"IPPrefixLen": 16, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0}
        bridge["DNSNames"] = None
    settings: JSON = {"SandboxID": sandbox, "SandboxKey": f"/var/run/docker/netns/{sandbox[:12]}", "Ports": {}}
    if profile.legacy:
        settings = {"Bridge": "", "SandboxID": sandbox, "HairpinMode": False, "LinkLocalIPv6Address": ""}
        settings |= {"LinkLocalIPv6PrefixLen": 0, "Ports": {}, "SandboxKey": f"/var/run/docker/netns/{sandbox[:12]}"}
        settings |= {"SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None}
    if profile.legacy or version < (1, 52):
        settings |= {"EndpointID": endpoint_id, "Gateway": "172.17.0.1", "GlobalIPv6Address": ""}
        settings |= {"GlobalIPv6PrefixLen": 0, "IPAddress": ip, "IPPrefixLen": 16, "IPv6Gateway": ""}
        settings["MacAddress"] = mac
    settings["Networks"] = {"bridge": bridge}
    return settings


def container_doc(task: Task, profile: Profile, version: Version, now_ns: int) -> tuple[JSON, bool]:
    """The document, and whether its keys are sorted (a Go map) on the wire."""
    spec: JSON = task.spec["ContainerSpec"]
    healthcheck = spec.get("Healthcheck")
    command = [*(spec.get("Command") or []), *(spec.get("Args") or [])] or ["/bin/sh"]
    root = "/var/lib/docker/containers/" + task.container_id
    labels = swarm_labels(task, spec.get("Labels", {}))
    doc: JSON = {
        "Id": task.container_id,
        "Created": rfc3339(task.created_ns + 150_000_000),
        "Path": command[0],
        "Args": command[1:],
        "State": _state(task, healthcheck, now_ns),
        "Image": "sha256:" + _digest(str(spec.get("Image"))),
        "ResolvConfPath": f"{root}/resolv.conf",
        "HostnamePath": f"{root}/hostname",
        "HostsPath": f"{root}/hosts",
        "LogPath": f"{root}/{task.container_id}-json.log",
        "Name": "/" + task.name,
        "RestartCount": 0,
        "Driver": profile.storage_driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": _host_config(profile),
    }
    if profile.legacy or version < (1, 52):
        doc["GraphDriver"] = {"Data": _graph_data(task) if profile.legacy else None, "Name": profile.storage_driver}
    else:
        doc["Storage"] = {"RootFS": {"Snapshot": {"Name": profile.storage_driver}}}
    config: JSON = {"Hostname": task.container_id[:12], "Domainname": "", "User": str(spec.get("User", ""))}
    config |= {"AttachStdin": False, "AttachStdout": False, "AttachStderr": False, "Tty": bool(spec.get("TTY"))}
    config |= {"OpenStdin": False, "StdinOnce": False, "Env": spec.get("Env"), "Cmd": command}
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    config |= {"Image": spec.get("Image", ""), "Volumes": None, "WorkingDir": "", "Entrypoint": None}
    if profile.legacy:
        config["OnBuild"] = None
    config["Labels"] = labels
    doc |= {"Mounts": [], "Config": config, "NetworkSettings": _network(task, profile, version)}
    if not profile.legacy and version >= (1, 48):  # with the containerd image store, 29's default
        doc["ImageManifestDescriptor"] = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + _digest(f"{spec.get('Image')} manifest"),
            "size": 1234,
            "platform": {"architecture": "amd64", "os": "linux"},
        }
    return doc, not profile.legacy and version < (1, 52)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _graph_data(task: Task) -> dict[str, Any]:
    layer = f"/var/lib/docker/overlay2/{task.container_id[:32]}{task.container_id[:32]}"
    return {
        "LowerDir": f"{layer}-init/diff",
        "MergedDir": f"{layer}/merged",
        "UpperDir": f"{layer}/diff",
        "WorkDir": f"{layer}/work",
    }
