"""The ``edge`` command. Messages are Chinese first, English beside.

Exit codes: 0 ok; 1 the command ran but found a problem (camera unreachable,
retention short of its legal minimum); 2 bad usage or bad configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

from edge import __version__, config as config_mod
from edge.command import SUPERVISOR_ENV, edge_argv, exit_with_parent
from edge.config import EdgeConfig
from edge.errors import ConfigError, StorageError, StreamError
from edge.log import redact, setup
from edge.ptz.ops import ACTIONS
from edge.timefmt import format_time, parse_time

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    setup(args.log_level)
    if os.environ.get(SUPERVISOR_ENV):  # a child of `edge run`: never outlive it
        exit_with_parent()
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print("配置错误 configuration errors:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # bad time or argument values
        print(f"参数错误 bad argument: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StorageError, StreamError) as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return EXIT_PROBLEM


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge", description="雪亮工程边缘录像节点 village video edge node")
    p.add_argument("--version", action="version", version=f"edge {__version__}")
    p.add_argument("--log-level", default="INFO", help="DEBUG/INFO/WARNING/ERROR")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    def cmd(name: str, func: Callable[[argparse.Namespace], int], text: str | None,
            config: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=text) if text else sub.add_parser(name)
        if config:
            sp.add_argument("--config", required=True, type=Path, help="配置文件 config file")
        sp.set_defaults(func=func)
        return sp

    sp = cmd("check-config", _check_config, "检查配置文件 validate a config file", config=False)
    sp.add_argument("path", type=Path)
    cmd("run", _run, "运行录像守护进程 run the daemon")
    sp = cmd("demo", _demo, "用模拟摄像机演示 run with simulated cameras", config=False)
    sp.add_argument("--data-dir", type=Path, help="数据目录 data dir (default: a new temp dir)")
    sp = cmd("probe", _probe, "探测摄像机码流 inspect a camera stream", config=False)
    sp.add_argument("url")
    sp.add_argument("--transport", choices=["tcp", "udp"], default="tcp")
    sp.add_argument("--seconds", type=float, default=5.0)
    sp.add_argument("--json", action="store_true")
    sp = cmd("recordings", _recordings, "录像覆盖与缺口 recorded ranges and gaps")
    _range_args(sp, required=False)
    sp.add_argument("--json", action="store_true")
    sp = cmd("status", _status, "摄像机实时状态 live camera state of the running daemon")
    sp.add_argument("--json", action="store_true")
    cmd("plan", _plan, "按磁盘容量估算保存天数 retention days this disk allows")
    sp = cmd("export", _export, "导出录像 export footage (stream copy, or desensitised)")
    _range_args(sp, required=True)
    sp.add_argument("-o", "--output", required=True, type=Path)
    sp.add_argument("--desensitise", action="store_true",
                    help="人脸打码, 重新编码 cover every face (re-encoded)")
    sp.add_argument("--watermark", help="叠加水印文字 (ASCII) burn in this text and the time")
    sp.add_argument("--actor", default="cli", help="审计记录的操作者 who exports, for the audit log")
    sp.add_argument("--progress", action="store_true", help="输出进度行 print progress lines")
    sp = cmd("lock", _lock, "锁定证据录像 lock a range against deletion")
    _range_args(sp, required=True)
    sp.add_argument("--reason", default="")
    sp = cmd("unlock", _unlock, "解除锁定 remove a lock")
    sp.add_argument("lock_id", type=int)
    cmd("locks", _locks, "列出锁定 list locks")
    cmd("alarms", _alarms, "列出未清除的告警 list open alarms")
    sp = cmd("snapshot", _snapshot, "抓取通道最新画面 JPEG of a channel's newest frame")
    sp.add_argument("--channel", required=True, help="通道编号 channel (camera) ID")
    sp.add_argument("-o", "--output", required=True, help="JPEG 文件, - 为标准输出 file or -")
    sp = cmd("discover", _discover, "搜索 ONVIF 摄像机 find ONVIF cameras (WS-Discovery)",
             config=False)
    sp.add_argument("--address", help="只探测此主机 probe this host only (HOST[:PORT], "
                    "routed subnets)")
    sp.add_argument("--timeout", type=float, default=3.0, help="等待应答秒数 seconds to listen")
    sp.add_argument("--user", default="", help="ONVIF 用户 user")
    sp.add_argument("--password", default="", help="ONVIF 密码 password")
    sp.add_argument("--json", action="store_true")
    sp = cmd("ptz", _ptz, "云台控制 steer a camera (ONVIF)")
    sp.add_argument("--channel", required=True, help="通道编号 channel (camera) ID")
    sp.add_argument("action", choices=ACTIONS)
    sp.add_argument("number", nargs="?", type=int, help="预置位 preset 1-255")
    sp.add_argument("--speed", type=int, default=4, help="速度 speed 1-8")
    sp.add_argument("--seconds", type=float, default=1.0, help="转动秒数 how long a move lasts")
    cmd("mqtt-test", _mqtt_test, "测试 MQTT 连接并发送一条健康消息 test the MQTT connection")
    sp = cmd("firewall", _firewall, "按配置生成防火墙规则 nftables rules from the config")
    sp.add_argument("-o", "--output", type=Path, help="写入文件 write here (default: print)")
    sp = cmd("update", _update, "安装签名升级包, 失败自动回退 install a signed update bundle "
             "(rolled back by itself if the new version is not healthy)")
    which = sp.add_mutually_exclusive_group(required=True)
    which.add_argument("bundle", type=Path, nargs="?")
    which.add_argument("--request", action="store_true", help="安装网页或 MQTT 提交的升级包 "
                       "install what the web UI or cmd/update left in <data_dir>/updates "
                       "(edge-update.service)")
    sp.add_argument("--allow-downgrade", action="store_true", help="允许降级 allow an older version")
    sp = cmd("user", _user, "网页用户 web accounts: add, list, passwd, unlock")
    sp.add_argument("action", choices=["add", "list", "passwd", "unlock"])
    sp.add_argument("name", nargs="?", default="")
    sp.add_argument("--role", choices=["admin", "operator", "viewer"], default="viewer")
    sp.add_argument("--cameras", default="", help="可看的通道, 逗号分隔 (默认全部) channel IDs "
                    "allowed, comma-separated (default: every camera)")
    sp.add_argument("--display", default="", help="姓名 full name")
    cmd("_recorder", _recorder, None)
    cmd("_web", _web, None)
    cmd("_thumbs", _thumbs, None)
    cmd("_detect", _detect, None)
    cmd("_firstboot", _firstboot, None)
    cmd("_console", _console, None)
    cmd("_disk-health", _disk_health, None)
    sp = cmd("_usb-stick", _usb_stick, None)
    sp.add_argument("device")
    cmd("_update-recover", _update_recover, None)
    sp = cmd("_request-update", _request_update, None)
    sp.add_argument("url")
    sp.add_argument("--sha256")
    sp.add_argument("--allow-downgrade", action="store_true")
    sp.add_argument("--by", default="mqtt")
    sp = cmd("_encrypt-data", _encrypt_data, None, config=False)
    sp.add_argument("device")
    cmd("_data-check", _data_check, None, config=False)
    sp = cmd("_replay", _replay, None)
    sp.add_argument("--channel", required=True)
    sp.add_argument("--from", dest="start", type=float, required=True)
    return p


def _discover(args: argparse.Namespace) -> int:
    from edge.onvif import report, scan

    try:
        host, port = scan.parse_address(args.address or "")
    except scan.AddressError as exc:
        print(f"--address: {exc}", file=sys.stderr)
        return EXIT_USAGE
    devices, refused = scan.scan(host, port, args.user, args.password, args.timeout)
    print(report.as_json(devices, refused) if args.json else report.table(devices, refused))
    return EXIT_OK if devices or not refused else EXIT_PROBLEM


def _ptz(args: argparse.Namespace) -> int:
    from edge.ptz import ops
    from edge.ptz.steering import Steering, targets

    cfg = config_mod.load(args.config)
    try:
        op = ops.action(args.action, args.number or 0, args.speed)
    except ops.PtzError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    failures: list[str] = []
    steering = Steering(targets(cfg), lambda _c, _a, what, error: failures.append(
        f"{what}: {error}") if error else None)
    try:
        steering.submit(args.channel, op, "cli", args.seconds)
        if isinstance(op, (ops.Move, ops.Lens)) and not op.is_stop:
            time.sleep(args.seconds)
            steering.submit(args.channel, ops.Move() if isinstance(op, ops.Move) else ops.Lens(),
                            "cli")
    except ops.PtzError as exc:
        failures.append(str(exc))
    steering.close(wait_s=30.0)
    if cfg.data_dir.exists():  # 统一日志: a dome steered from the shell is audited too
        from edge.record.index import Index

        index = Index(cfg.data_dir)
        index.audit("cli", "ptz", channel=args.channel, op=ops.describe(op),
                    error="; ".join(failures)[:300] or None)
        index.close()
    for failure in failures:
        print(f"失败 failed: {failure}", file=sys.stderr)
    if not failures:
        print(f"{args.channel}: {ops.describe(op)} 完成 done")
    return EXIT_PROBLEM if failures else EXIT_OK


def _snapshot(args: argparse.Namespace) -> int:
    from edge.record.snapshot import snapshot_jpeg

    cfg = config_mod.load(args.config)
    index = _index(cfg, readonly=True)
    jpeg, frame_ts = snapshot_jpeg(index, args.channel)
    if args.output == "-":
        sys.stdout.buffer.write(jpeg)
        sys.stdout.flush()
    else:
        Path(args.output).write_bytes(jpeg)
        print(f"已保存 saved {args.output}: {len(jpeg)} bytes, 画面时间 frame of "
              f"{format_time(frame_ts, cfg.node.timezone)}")
    return EXIT_OK


def _firewall(args: argparse.Namespace) -> int:
    import socket

    from edge.appliance.firewall import Peers, render
    from edge.record.index import Index
    from edge.web.accounts import Accounts

    cfg = config_mod.load(args.config)
    addresses = []
    for plat in cfg.platforms:
        try:
            addresses += sorted({str(a[4][0]) for a in socket.getaddrinfo(
                plat.host, plat.port, socket.AF_INET, socket.SOCK_DGRAM)})
        except OSError as exc:
            print(f"无法解析上级平台 cannot resolve platform {plat.id} {plat.host}: {exc}",
                  file=sys.stderr)
            return EXIT_PROBLEM
    admin = False
    if (cfg.data_dir / "edge.db").exists():
        index = Index(cfg.data_dir)
        Accounts.create_schema(index.db)
        admin = any(u.role == "admin" for u in Accounts(index.db).all())
        index.close()
    text = render(cfg, Peers(tuple(addresses), web_extra=cfg.web.allow_from), admin)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return EXIT_OK


def _firstboot(args: argparse.Namespace) -> int:
    from edge.appliance.firstboot import run as first_boot

    machine = Path("/etc/machine-id").read_text(encoding="ascii")
    for step in first_boot(args.config, machine):
        print(f"edge-firstboot: {step}")
    return EXIT_OK


def _console(args: argparse.Namespace) -> int:
    from edge.appliance.console import show

    print(show(config_mod.load(args.config)), end="")
    return EXIT_OK


def _disk_health(args: argparse.Namespace) -> int:
    from edge.appliance.diskcheck import run

    health = run(config_mod.load(args.config).data_dir)
    print(f"edge-disk-health: {health.device} {health.state}"
          + (f": {'; '.join(health.reasons)}" if health.reasons else ""))
    return EXIT_OK


def _usb_stick(args: argparse.Namespace) -> int:
    from edge.appliance.usbstick import handle

    for step in handle(args.device, config_mod.load(args.config)):
        print(f"edge-usb: {step}")
    return EXIT_OK


def _encrypt_data(args: argparse.Namespace) -> int:
    from edge.appliance.datacrypt import EncryptError, encrypt

    try:
        for step in encrypt(args.device):
            print(f"edge-firstboot: {step}")
    except EncryptError as exc:
        print(f"edge-firstboot: 数据分区未加密 data partition not encrypted: {exc}",
              file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


def _data_check(args: argparse.Namespace) -> int:
    from edge.appliance.datacheck import run

    for line in run():
        print(f"edge-data-check: {line}")
    return EXIT_OK


def _request_update(args: argparse.Namespace) -> int:
    """cmd/update's child: download, check, leave the request; one JSON line for the reply."""
    from edge.update.bundle import BundleError
    from edge.update.request import UpdateError, download, submit

    cfg = config_mod.load(args.config)
    try:
        manifest = submit(cfg, download(cfg, args.url, args.sha256), args.allow_downgrade,
                          args.by)
        action, detail = "update_requested", {"version": manifest.version}
        answer = {"ok": True, "version": manifest.version, "previous": __version__,
                  "requested": True}
    except (BundleError, UpdateError, OSError) as exc:
        action, detail = "update_refused", {"reason": str(exc)}
        answer = {"ok": False, "error": str(exc)}
    index = _index(cfg)
    index.audit(args.by, action, url=args.url, **detail)
    index.close()
    print(json.dumps(answer, ensure_ascii=False))
    return EXIT_OK if answer["ok"] else EXIT_PROBLEM


def _update_recover(args: argparse.Namespace) -> int:
    """edge-update-recover.service, at boot: an update whose check was cut short goes back."""
    from edge.update.install import Updater

    back = Updater(config_mod.load(args.config)).recover()
    if back is not None:
        print(f"升级检查被重启打断, 已回退到 {back} an update's check was cut short by a "
              f"restart: rolled back to {back}")
    return EXIT_OK


def _update(args: argparse.Namespace) -> int:
    from edge.update.bundle import BundleError
    from edge.update.install import Updater
    from edge.update.request import UpdateError, take
    from edge.web.address import probe

    cfg = config_mod.load(args.config)
    bundle, allow_downgrade = args.bundle, args.allow_downgrade
    try:
        if args.request:
            request = take(cfg.data_dir)
            bundle, allow_downgrade = request.bundle, request.allow_downgrade
            print(f"edge-update: {bundle.name}, asked for by {request.by}")
        manifest = Updater(cfg, allow_downgrade, web_answers=lambda: probe(cfg)).run(bundle)
    except (BundleError, UpdateError, OSError) as exc:
        print(f"升级未安装 update not installed: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        if args.request and bundle is not None:
            bundle.unlink(missing_ok=True)  # kept in the wheelhouse or refused: not needed
    print(f"已升级到 updated to {manifest.version} (commit {manifest.commit or '-'})")
    return EXIT_OK


def _mqtt_test(args: argparse.Namespace) -> int:
    from edge.mqtt.check import mqtt_test

    cfg = config_mod.load(args.config)
    if cfg.mqtt is None:
        print("配置中没有 [mqtt] 段 no [mqtt] section in the config", file=sys.stderr)
        return EXIT_USAGE
    ok, lines = mqtt_test(cfg)
    for line in lines:
        print(line, file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_PROBLEM


def _range_args(sp: argparse.ArgumentParser, required: bool) -> None:
    sp.add_argument("--channel", required=required, help="通道编号 channel (camera) ID")
    sp.add_argument("--from", dest="start", required=required, help="开始时间 start time")
    sp.add_argument("--to", dest="end", required=required, help="结束时间 end time")


def _times(cfg: EdgeConfig, args: argparse.Namespace) -> tuple[float, float]:
    tz = cfg.node.timezone
    start = parse_time(args.start, tz) if args.start else 0.0
    end = parse_time(args.end, tz) if args.end else time.time() + 86_400
    if end <= start:
        raise ValueError("结束时间应晚于开始时间 --to must be after --from")
    return start, end


def _index(cfg: EdgeConfig, readonly: bool = False) -> Any:
    from edge.record.index import DB_NAME, Index

    if not (cfg.data_dir / DB_NAME).exists():
        raise StorageError(f"数据目录中没有录像索引 no recording index in {cfg.data_dir}")
    return Index(cfg.data_dir, readonly=readonly)


def _check_config(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.path)
    ret = cfg.retention
    print(f"配置有效 config OK: {args.path}")
    print(f"节点 node {cfg.node.id} {cfg.node.name}  数据 data {cfg.data_dir}  时区 tz {cfg.node.timezone}")
    print(f"存储 storage: 分段 segment {cfg.storage.segment_seconds:.0f} s, 最低空闲 min free "
          f"{cfg.storage.min_free_percent}% / {cfg.storage.min_free_gb} GB")
    print(f"摄像机 cameras: {len(cfg.cameras)}")
    for cam in cfg.cameras:
        flags = ("重点 key area " if cam.key_area else "") + ("" if cam.record else "不录像 no-record ")
        if cam.detect and cfg.detect.enabled:
            flags += (f"检测 detect ({len(cam.zones)} 区域 zones) " if cam.zones
                      else "检测 detect ")
        print(f"  {cam.id} {cam.name}  {redact(cam.url)}  {cam.transport}  "
              f"保存 keep {cam.keep_days(ret)} 天 days {flags}".rstrip())
    q = cfg.quality
    print("视频质量诊断 quality diagnosis: " + (f"每 every {q.interval:.0f} s" if q.enabled
                                               else "关闭 off"))
    print(f"上级平台 upper platforms: {len(cfg.platforms)}")
    for plat in cfg.platforms:
        state = "" if plat.enabled else "  停用 disabled"
        print(f"  {plat.id}@{plat.sip_domain}  {plat.host}:{plat.port}/{plat.transport}  "
              f"心跳 keepalive {plat.keepalive_interval} s x {plat.keepalive_timeout_count}{state}")
    _print_platform_changes(cfg)
    return EXIT_OK


def _print_detection(cfg: EdgeConfig) -> None:
    """The detector process's own status file (detection counters, picture faults)."""
    from edge.detect import STATUS_FILE as DETECT_FILE

    try:
        cams = json.loads((cfg.data_dir / DETECT_FILE).read_text(encoding="utf-8"))["cameras"]
    except (OSError, ValueError, KeyError):
        return
    for cam in cams:
        parts = []
        if cam.get("detect"):
            parts.append(f"检测 detection ({cam['mode']}): 帧 frames {cam['frames']}, 有运动 "
                         f"moving {cam['moving']}, 近绊线 near a line {cam.get('near_line', 0)}, "
                         f"模型 model runs {cam['inferences']}, 事件 events {cam['events']}")
        faults = cam.get("quality", {}).get("faults", [])
        if "quality" in cam:
            parts.append("画面 picture: " + (", ".join(faults) if faults else "正常 sound"))
        print(f"{cam['id']}: " + "; ".join(parts))


def _print_platform_changes(cfg: EdgeConfig) -> None:
    """What upper platforms changed at run time (DeviceConfig, GuardCmd): it overrides the
    file, so the technician must see it beside the file's values."""
    from edge.gb28181.settings import FILE_NAME, RuntimeSettings

    if not cfg.platforms or not (cfg.data_dir / FILE_NAME).exists():
        return
    saved = RuntimeSettings.load(cfg.data_dir, set_aside=False)
    changes = [f"节点名称 node name \"{saved.name}\"" if saved.name else ""]
    for plat_id, o in saved.platforms.items():
        parts = [f"有效期 expires {o.expires} s" if o.expires else "",
                 f"心跳 keepalive {o.keepalive_interval} s" if o.keepalive_interval else "",
                 f"超时次数 misses {o.keepalive_timeout_count}" if o.keepalive_timeout_count else ""]
        if any(parts):
            changes.append(f"{plat_id}: " + ", ".join(p for p in parts if p))
    if saved.disarmed:
        changes.append("撤防 disarmed " + " ".join(sorted(saved.disarmed)))
    changes = [c for c in changes if c]
    if changes:
        print(f"上级平台已修改 changed by upper platforms ({cfg.data_dir / FILE_NAME}, 优先于本文件 "
              "overrides this file):")
        for change in changes:
            print(f"  {change}")


def _run(args: argparse.Namespace) -> int:
    from edge import app

    cfg = config_mod.load(args.config)
    code = app.run(cfg, args.config.resolve(), args.log_level)
    if code == app.EXIT_RELOAD:  # same PID, so systemd keeps tracking it
        os.execv(sys.executable, edge_argv(*sys.argv[1:]))
    return code


def _recorder(args: argparse.Namespace) -> int:
    from edge.recorder_process import run_recorder

    return run_recorder(config_mod.load(args.config))


def _read_password() -> str:
    """From a prompt (twice), or from stdin when it is not a terminal: the password on the
    first line, its confirmation on the second."""
    import getpass

    if sys.stdin.isatty():
        first, second = getpass.getpass("密码 password: "), getpass.getpass("再次 again: ")
    else:
        lines = sys.stdin.read().splitlines() + ["", ""]
        first, second = lines[0], lines[1]
    if first != second:
        raise ValueError("两次输入的密码不一致 the passwords differ")
    return first


def _user(args: argparse.Namespace) -> int:
    from edge.web.accounts import AccountError, Accounts

    cfg = config_mod.load(args.config)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    from edge.record.index import Index

    index = Index(cfg.data_dir)
    Accounts.create_schema(index.db)
    accounts = Accounts(index.db)
    try:
        if args.action == "list":
            for u in accounts.all():
                cams = "全部 all" if u.cameras is None else ",".join(u.cameras)
                print(f"{u.name}\t{u.role}\t{cams}\t{u.display}"
                      + ("\t停用 disabled" if u.disabled else ""))
            return EXIT_OK
        if not args.name:
            raise ValueError("缺少用户名 a user name is needed")
        if args.action == "add":
            cameras = [c for c in args.cameras.split(",") if c] or None
            unknown = [c for c in cameras or [] if cfg.camera(c) is None]
            if unknown:
                raise ValueError(f"配置中没有这些通道 no such channels: {', '.join(unknown)}")
            user = accounts.add(args.name, _read_password(), args.role, cameras, args.display,
                                time.time())
            index.audit("cli", "user_add", name=user.name, role=user.role, cameras=cameras)
            print(f"已添加 added {user.name} ({user.role})")
        elif args.action == "unlock":  # a locked-out admin's way in, at the box's console
            cleared = accounts.unlock(args.name)
            index.audit("cli", "user_unlock", name=args.name, addresses=cleared)
            print(f"已解锁 unlocked {args.name} ({cleared} 个地址 addresses)")
        else:
            user = accounts.get(args.name)
            if user is None:
                raise ValueError(f"没有用户 no user {args.name}")
            accounts.set_password(user.id, _read_password())
            index.audit("cli", "user_passwd", name=user.name)
            print(f"已修改密码 password changed for {user.name}")
    except AccountError as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        index.close()
    return EXIT_OK


def _web(args: argparse.Namespace) -> int:
    from edge.web.server import run_web

    return run_web(config_mod.load(args.config), args.config.resolve())


def _thumbs(args: argparse.Namespace) -> int:
    from edge.web.thumbs import run_thumbs

    return run_thumbs(config_mod.load(args.config))


def _detect(args: argparse.Namespace) -> int:
    from edge.detect.process import run_detect

    return run_detect(config_mod.load(args.config))


def _replay(args: argparse.Namespace) -> int:
    from edge.web.replay import replay

    cfg = config_mod.load(args.config)
    try:
        replay(_index(cfg, readonly=True), args.channel, args.start, sys.stdout.buffer)
    except BrokenPipeError:  # the browser went away
        os._exit(0)
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from edge.sim.demo import run_demo

    return run_demo(args.data_dir, args.log_level)


def _probe(args: argparse.Namespace) -> int:
    from edge.ingest.rtsp import probe

    try:
        result = probe(args.url, args.transport, args.seconds)
    except StreamError as exc:
        print(f"探测失败 probe failed: {redact(args.url)}: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
        return EXIT_OK
    print(f"地址 url: {redact(args.url)}")
    print(f"视频 video: {result.video_codec} {result.width}x{result.height} {result.fps} fps")
    print(f"码率 bitrate: {result.bitrate_bps / 1e6:.2f} Mbit/s")
    gop = f"{result.keyframe_interval_s} s" if result.keyframe_interval_s else "未测到 not seen"
    print(f"关键帧间隔 keyframe interval: {gop}")
    audio = f"{result.audio_codec} {result.audio_rate} Hz" if result.audio_codec else "无 none"
    print(f"音频 audio: {audio}")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from edge.app import STATUS_FILE, STATUS_STALE_S

    cfg = config_mod.load(args.config)
    path = cfg.data_dir / STATUS_FILE
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        print(f"守护进程未运行 the daemon is not running (no {path})", file=sys.stderr)
        return EXIT_PROBLEM
    if time.time() - status["ts"] > STATUS_STALE_S:
        print("状态已过期, 守护进程可能已停止 status is stale: the daemon may have stopped",
              file=sys.stderr)
        return EXIT_PROBLEM
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
    else:
        for cam in status["cameras"]:
            conf = cfg.camera(cam["id"])
            state = "在线 online" if cam["online"] else "离线 OFFLINE"
            rec = "录像中 recording" if cam["recording"] else "未录像 not recording"
            print(f"{cam['id']} {conf.name if conf else ''}: {state}, {rec}, {cam['fps']} fps, "
                  f"{cam['bitrate_bps'] / 1e6:.2f} Mbit/s, 近1小时重连 reconnects/h "
                  f"{cam['reconnects_last_hour']}" + (f", 错误 error: {cam['last_error']}"
                                                       if cam["last_error"] else "")
                  + (f", 时差 clock {cam['clock_offset_s']:+.1f} s"
                     if cam.get("clock_offset_s") is not None else "")
                  + (f", 时钟 clock: {cam['clock_error']}" if cam.get("clock_error") else ""))
        for plat in status.get("platforms", []):
            state = "已注册 registered" if plat["registered"] else f"未注册 {plat['state']}"
            offset = plat["clock_offset_s"]
            print(f"上级平台 platform {plat['id']}: {state}"
                  + (f", 时差 clock offset {offset:+.1f} s" if offset is not None else "")
                  + (f", 订阅 subscriptions {'/'.join(plat['subscriptions'])}"
                     if plat["subscriptions"] else "")
                  + (f", 错误 error: {plat['last_error']}" if plat["last_error"] else ""))
        _print_detection(cfg)
        kinds = {"Play": "实时 live", "Playback": "回放 playback", "Download": "下载 download"}
        for s in status.get("media_sessions", []):
            since = format_time(s["started_ts"], cfg.node.timezone) if s["started_ts"] else "-"
            print(f"媒体流 media {kinds.get(s['kind'], s['kind'])} {s['channel']} -> "
                  f"{s['platform']} ({s['transport']}, {s['state']}), "
                  f"{s['bytes'] / 2**20:.1f} MB, 开始 since {since}")
        states = {"starting": "启动中 starting", "running": "运行 running", "stale": "卡住 STALE",
                  "dead": "已退出 DEAD", "blocked": "受阻 BLOCKED"}
        for r in status.get("runners", []):
            print(f"运行单元 runner {r['name']}: {states.get(r['state'], r['state'])}"
                  + (f", 重启 restarts {r['restarts']}" if r["restarts"] else "")
                  + (f", 原因 last error: {r['last_error']}" if r["last_error"] else ""))
        if cfg.web.enabled:
            from edge.web.accounts import SETUP_FILE
            from edge.web.address import url

            token = cfg.data_dir / SETUP_FILE
            print(f"网页界面 web UI: {url(cfg)}" + (
                f"  首次设置口令 setup token: {token.read_text().strip()} ({url(cfg)}setup)"
                if token.exists() else ""))
        if "uplink" in status:
            for line in _uplink_lines(status["uplink"]):
                print(line)
        if "mqtt" in status:
            mq = status["mqtt"]
            print("MQTT: " + ("已连接 connected" if mq["connected"] else "未连接 not connected")
                  + (f", 错误 error: {mq['last_error']}" if mq["last_error"] else ""))
    offline = [c for c in status["cameras"] if not c["online"]]
    unwell = [r for r in status.get("runners", []) if r["state"] in ("stale", "dead")]
    return EXIT_PROBLEM if offline or unwell or not status["recorder_alive"] else EXIT_OK


def _uplink_lines(up: dict[str, Any]) -> list[str]:
    def mb(part: dict[str, dict[str, int]], purpose: str | None = None) -> float:
        rows = [part[purpose]] if purpose else list(part.values())
        return sum(r["sent"] + r["received"] for r in rows) / 1e6

    today, month, budget = up["today"], up["month"], up["budget"]
    parts = ", ".join(f"{name} {mb(today, key):.2f}" for key, name in (
        ("sip", "SIP"), ("mqtt", "MQTT"), ("media", "媒体 media"), ("other", "其他 other")))
    limit = (f" / {budget['monthly_mb']} MB ({budget['percent']} %)" if budget["monthly_mb"]
             else " (不限量 unmetered)")
    lines = [f"上行流量 uplink ({up.get('interface') or '-'} {up.get('address') or ''}): "
             f"今日 today {mb(today):.2f} MB ({parts}); 本月 month since "
             f"{up['month_first_day']} {mb(month):.1f} MB{limit}, 预计 projected "
             f"{budget['projected_bytes'] / 1e6:.0f} MB"
             + ("; 超出套餐, 实时视频用子码流 OVER BUDGET: live uses the sub stream"
                if budget["restricted"] else "")]
    modem = up.get("modem")
    if modem:
        signal = modem.get("signal_quality_percent")
        lines.append(f"4G: {modem.get('operator') or '-'} {modem.get('access_technology') or ''}"
                     f", {modem.get('state') or '-'}, 信号 signal "
                     f"{signal if signal is not None else '-'} %"
                     + (f", RSRP {modem['rsrp_dbm']:.0f} dBm" if "rsrp_dbm" in modem else "")
                     + (f", SINR {modem['sinr_db']:.1f} dB" if "sinr_db" in modem else ""))
    return lines


def _recordings(args: argparse.Namespace) -> int:
    from edge.record.coverage import clip, gaps_between, merge_ranges

    cfg = config_mod.load(args.config)
    start, end = _times(cfg, args)
    index = _index(cfg, readonly=True)
    channels = [args.channel] if args.channel else sorted(
        {c.id for c in cfg.cameras} | set(index.channel_ids()))
    tz = cfg.node.timezone
    report = []
    for channel in channels:
        ranges = clip(merge_ranges(index.recorded_ranges(channel, start, end)), start, end)
        oldest, newest, total, count = index.summary(channel)
        report.append({
            "channel": channel, "segments": count, "bytes": total,
            "oldest": oldest, "newest": newest,
            "ranges": [[r.start, r.end] for r in ranges],
            "gaps": [[g.start, g.end] for g in gaps_between(ranges)],
        })
    if args.json:
        print(json.dumps({"channels": report}, ensure_ascii=False))
        return EXIT_OK
    for ch in report:
        cam = cfg.camera(ch["channel"])
        print(f"通道 channel {ch['channel']} {cam.name if cam else '(已删除 removed)'}: "
              f"{ch['segments']} 段 segments, {ch['bytes'] / 2**20:.1f} MB")
        if ch["oldest"] is not None:
            print(f"  最早 oldest {format_time(ch['oldest'], tz)}  最新 newest {format_time(ch['newest'], tz)}")
        for s, e in ch["ranges"]:
            print(f"  录像 recorded {format_time(s, tz)} — {format_time(e, tz)} ({e - s:.0f} s)")
        for s, e in ch["gaps"]:
            print(f"  缺口 gap      {format_time(s, tz)} — {format_time(e, tz)} ({e - s:.0f} s)")
    return EXIT_OK


def _plan(args: argparse.Namespace) -> int:
    from edge.retention.capacity import ChannelNeed, plan
    from edge.retention.policy import DAY_S, required_free_bytes

    cfg = config_mod.load(args.config)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    from edge.record.index import Index

    index = Index(cfg.data_dir)
    now = time.time()
    needs, recorded = [], 0
    for cam in cfg.cameras:
        recorded += index.summary(cam.id)[2]
        needs.append(ChannelNeed(cam.id, index.byte_rate(cam.id, now - DAY_S),
                                 cam.keep_days(cfg.retention), cam.legal_min_days(cfg.retention)))
    usage = shutil.disk_usage(cfg.data_dir)
    reserve = required_free_bytes(usage.total, cfg.storage.min_free_percent, cfg.storage.min_free_gb)
    budget = usage.free + recorded - reserve
    print(f"磁盘 disk {usage.total / 1e9:.1f} GB, 可用于录像 usable for footage {budget / 1e9:.1f} GB")
    short = False
    for p in plan(needs, budget):
        source = "实测 measured" if p.measured else "假定 assumed"
        mark = "不足 SHORT" if p.short else "满足 ok"
        short |= p.short
        print(f"  {p.channel_id}  {p.bitrate_bps / 1e6:.2f} Mbit/s ({source})  可保存 can keep "
              f"{p.achievable_days:.0f} 天 days / 目标 target {p.keep_days} / 法定 legal "
              f"{p.legal_min_days}  {mark}")
    return EXIT_PROBLEM if short else EXIT_OK


def _export(args: argparse.Namespace) -> int:
    import hashlib

    from edge.record.export import export_range

    cfg = config_mod.load(args.config)
    start, end = _times(cfg, args)
    index = _index(cfg)

    def progress(fraction: float) -> None:
        if args.progress:
            print(f"progress {fraction:.3f}", flush=True)

    if args.desensitise or args.watermark:
        from edge.detect.desensitise import export_reencoded

        if args.watermark and not args.watermark.isascii():
            raise ValueError("水印只能用 ASCII 字符 the watermark must be ASCII")
        result = export_reencoded(index, args.channel, start, end, args.output,
                                  blur=args.desensitise, watermark=args.watermark,
                                  tz=cfg.node.timezone, progress=progress)
    else:
        result = export_range(index, args.channel, start, end, args.output, progress)
    digest = hashlib.sha256()
    with args.output.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    index.audit(args.actor, "export", channel=args.channel, start=start, end=end,
                file=str(args.output.resolve()), sha256=digest.hexdigest(),
                bytes=args.output.stat().st_size, desensitised=args.desensitise,
                watermark=args.watermark or None, faces_blurred=result.faces_blurred)
    tz = cfg.node.timezone
    print(f"已导出 exported {result.path}: {format_time(result.start_ts, tz)} — "
          f"{format_time(result.end_ts, tz)}, {result.segments} 段 segments"
          + (f", 模糊人脸 {result.faces_blurred} faces blurred" if args.desensitise else ""))
    print(f"sha256 {digest.hexdigest()}")
    return EXIT_OK


def _lock(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    start, end = _times(cfg, args)
    index = _index(cfg)
    lock_id = index.add_lock(args.channel, start, end, args.reason)
    index.audit("cli", "lock", channel=args.channel, start=start, end=end, reason=args.reason)
    print(f"已锁定 locked #{lock_id}: {args.channel} {format_time(start, cfg.node.timezone)} — "
          f"{format_time(end, cfg.node.timezone)}")
    return EXIT_OK


def _unlock(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    index = _index(cfg)
    if not index.remove_lock(args.lock_id):
        print(f"没有该锁定 no lock #{args.lock_id}", file=sys.stderr)
        return EXIT_PROBLEM
    index.audit("cli", "unlock", lock_id=args.lock_id)
    print(f"已解除 unlocked #{args.lock_id}")
    return EXIT_OK


def _locks(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    tz = cfg.node.timezone
    for lock in _index(cfg, readonly=True).locks():
        print(f"#{lock.id} {lock.channel_id} {format_time(lock.start_ts, tz)} — "
              f"{format_time(lock.end_ts, tz)} {lock.reason}")
    return EXIT_OK


def _alarms(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    alarms = _index(cfg, readonly=True).alarms()
    for alarm in alarms:
        print(f"{format_time(alarm.raised_ts, cfg.node.timezone)} {alarm.channel_id} "
              f"{alarm.kind}: {alarm.message}")
    return EXIT_PROBLEM if alarms else EXIT_OK

