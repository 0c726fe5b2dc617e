#!/usr/bin/env bash
# 构建 ARM64 设备镜像  build the edge appliance image: arm64 Debian 12 with edge installed.
#
#   sudo ./build-image.sh            (or: make image)    on a Debian 12 machine, as root
#
# Writes to build/image/ (OUT=...): rootfs.tar, edge-arm64.img (GPT: an EFI system partition
# "edge-esp" with GRUB at the removable-media path, root "edge-root" with Debian's arm64
# kernel and initramfs in /boot, data "edge-data" for /var/lib/edge), SHA256SUMS and
# manifest.json (Debian packages, wheel hashes, git commit). Reproducible where Debian allows: SOURCE_DATE_EPOCH (the
# commit's time), sorted tar, fixed UIDs. SMOKE=0 skips the smoke test under qemu.
# ENCRYPT_DATA=1 (the default): first boot makes the data partition LUKS2 with a key of the
# box's own (edge/appliance/datacrypt.py); ENCRYPT_DATA=0 leaves it plain ext4.
# It boots by itself wherever UEFI does (QEMU virt with AAVMF, UEFI ARM servers, U-Boot's EFI
# boot on RK3568/RK3588 and Raspberry Pi 4/5): `make boot-test` proves it on every build.
# Boards that need their vendor's kernel: lay rootfs.tar onto the vendor's boot image
# (docs/appliance.md, section 1).
set -euo pipefail
cd "$(dirname "$0")"

OUT=${OUT:-build/image}
SUITE=bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ESP_MB=${ESP_MB:-64}
ROOT_MB=${ROOT_MB:-3072}
DATA_MB=${DATA_MB:-512}   # grown to the whole disk at first boot
SMOKE=${SMOKE:-1}
ENCRYPT_DATA=${ENCRYPT_DATA:-1}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive
PACKAGES=systemd,systemd-sysv,libpam-systemd,udev,dbus,python3,python3-venv,ca-certificates,openssl,\
chrony,nftables,network-manager,modemmanager,openssh-server,iproute2,e2fsprogs,\
cloud-guest-utils,cryptsetup-bin,logrotate,polkitd,libgl1,libglib2.0-0,\
linux-image-arm64,initramfs-tools,zstd,kmod,netbase,grub-efi-arm64-bin,dosfstools,\
smartmontools,mmc-utils
EDGE_UID=990

log() { echo "build-image: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "需要 root run as root"; exit 2; }
started=$(date +%s)

# -- host tools and qemu for arm64 binaries -------------------------------------------------
need=()
for tool in debootstrap:debootstrap qemu-aarch64-static:qemu-user-static \
            update-binfmts:binfmt-support sgdisk:gdisk mkfs.ext4:e2fsprogs git:git \
            mkfs.vfat:dosfstools mcopy:mtools; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then apt-get update -q && apt-get install -y -q "${need[@]}"; fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64

mkdir -p "$OUT"
ROOTFS=$OUT/rootfs
WHEELS=$OUT/wheels
rm -rf "$ROOTFS"

# -- the root file system ---------------------------------------------------------------
# BASE_CACHE=DIR (make boot-test sets it): the debootstrapped system is kept there, keyed by
# the suite, the packages and the initramfs settings, and reused instead of bootstrapping
# again (8 of a build's 11 minutes); a release build leaves it unset and takes today's packages
INITRAMFS_FILES=(etc/initramfs-tools/conf.d/edge.conf usr/share/initramfs-tools/modules.d/edge)
base_key=$( { echo "$SUITE $MIRROR $PACKAGES"; for f in "${INITRAMFS_FILES[@]}"; do
    cat "firmware-overlay/$f"; done; } | sha256sum | cut -c1-16)
BASE_TAR=${BASE_CACHE:+$BASE_CACHE/base-$base_key.tar}
if [ -n "$BASE_TAR" ] && [ -f "$BASE_TAR" ]; then
    log "the bootstrapped system from $BASE_TAR"
    mkdir -p "$ROOTFS"; tar -xpf "$BASE_TAR" -C "$ROOTFS"
else
    log "debootstrap $SUITE arm64 from $MIRROR"
    debootstrap --foreign --arch=arm64 --variant=minbase --include="$PACKAGES" "$SUITE" \
        "$ROOTFS" "$MIRROR"
    # the initramfs settings before the kernel's package makes its initramfs (second stage)
    for f in "${INITRAMFS_FILES[@]}"; do
        install -D -m 0644 "firmware-overlay/$f" "$ROOTFS/$f"
    done
    chroot "$ROOTFS" /debootstrap/debootstrap --second-stage
    if [ -n "$BASE_TAR" ]; then
        mkdir -p "$BASE_CACHE"; rm -f "$BASE_CACHE"/base-*.tar
        tar -cpf "$BASE_TAR.part" -C "$ROOTFS" . && mv "$BASE_TAR.part" "$BASE_TAR"
    fi
fi
cleanup() { for m in proc sys dev; do umount -l "$ROOTFS/$m" 2>/dev/null || true; done; }
trap cleanup EXIT
mount -t proc proc "$ROOTFS/proc"; mount --rbind /sys "$ROOTFS/sys"; mount --rbind /dev "$ROOTFS/dev"
in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                LC_ALL=C.UTF-8 SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "$@"; }

# packages added since the base was cached: small, architecture-independent, fetched by the
# host's apt (a new one in PACKAGES would bootstrap the whole base again)
LATE_PACKAGES=(libasound2-data)  # ALSA's alsa.conf: the loudspeakers' device names (plughw:1,0)
rm -rf "$OUT/debs"; mkdir -p "$OUT/debs"
(cd "$OUT/debs" && apt-get download -q "${LATE_PACKAGES[@]}" 2>/dev/null \
    || { apt-get update -q && apt-get download -q "${LATE_PACKAGES[@]}"; })
cp "$OUT"/debs/*.deb "$ROOTFS/tmp/"
in_root sh -c 'dpkg -i /tmp/*.deb >/dev/null && rm /tmp/*.deb'

in_root groupadd --system --gid $EDGE_UID edge
in_root useradd --system --uid $EDGE_UID --gid edge --home-dir /var/lib/edge \
    --shell /usr/sbin/nologin edge

# -- wheels for aarch64, downloaded here (pip cannot reach an index from the chroot) -------
log "wheels for aarch64"
rm -rf "$WHEELS"; mkdir -p "$WHEELS"
# edge itself from what is committed (not the work tree: build/ holds the rootfs)
SRC=$OUT/src
rm -rf "$SRC"; mkdir -p "$SRC"
git archive HEAD | tar -x -C "$SRC"
python3 -m pip wheel --quiet --no-deps -w "$WHEELS" "$SRC"
python3 - "$SRC/pyproject.toml" > "$OUT/requirements.txt" <<'PY'
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))
PY
# pip takes only the tags it is given: every manylinux level Debian 12's glibc 2.36 runs
PLATFORMS=(--platform manylinux2014_aarch64)
for glibc in 24 26 27 28 31 34 35 36; do PLATFORMS+=(--platform "manylinux_2_${glibc}_aarch64"); done
python3 -m pip download --quiet --only-binary=:all: --python-version 3.11 --implementation cp \
    --abi cp311 --abi abi3 --abi none "${PLATFORMS[@]}" -d "$WHEELS" -r "$OUT/requirements.txt"
# the interpreter that runs under qemu-user too (LiteRT does not): for the smoke test
if [ "$SMOKE" = 1 ]; then
    python3 -m pip download --quiet --only-binary=:all: --python-version 3.11 \
        --implementation cp --abi cp311 "${PLATFORMS[@]}" -d "$OUT/smoke-wheels" \
        "tflite-runtime==2.14.0" "numpy<2"
fi

# -- edge in its first venv slot, as edge update lays them out ------------------------------
mkdir -p "$ROOTFS/opt/edge/slots" "$ROOTFS/opt/edge/wheels"
cp "$WHEELS"/*.whl "$ROOTFS/opt/edge/wheels/"
in_root python3 -m venv "/opt/edge/slots/$VERSION"
in_root "/opt/edge/slots/$VERSION/bin/python" -m pip install --quiet --no-index \
    --disable-pip-version-check --find-links /opt/edge/wheels "edge==$VERSION"
ln -sfn "slots/$VERSION" "$ROOTFS/opt/edge/venv"

# -- the overlay, the units, the data partition's mount point -------------------------------
cp -a firmware-overlay/. "$ROOTFS/"
(cd firmware-overlay && find . -mindepth 1 -print0) | (cd "$ROOTFS" && xargs -0 chown -h 0:0)
install -m 0644 -o 0 -g 0 systemd/* "$ROOTFS/etc/systemd/system/"
chmod 600 "$ROOTFS"/etc/NetworkManager/system-connections/*.nmconnection
mkdir -p "$ROOTFS/var/lib/edge"
chown $EDGE_UID:$EDGE_UID "$ROOTFS/var/lib/edge"
# the settings the web UI saves: a directory of their own that the daemon may write (an
# atomic rename needs the directory), /etc/edge/edge.toml a link to them; the rest of
# /etc/edge (the update key, the disk key, TLS) stays out of the daemon's reach
chown 0:$EDGE_UID "$ROOTFS/etc/edge/settings" "$ROOTFS/etc/edge/settings/edge.toml"
chmod 0770 "$ROOTFS/etc/edge/settings"; chmod 0640 "$ROOTFS/etc/edge/settings/edge.toml"
[ -f "${UPDATE_PUBLIC_KEY:-}" ] && cp "$UPDATE_PUBLIC_KEY" "$ROOTFS/etc/edge/update.pub"
if [ "$ENCRYPT_DATA" = 1 ]; then touch "$ROOTFS/etc/edge/encrypt-data"; fi
# the earliest time the clock starts at (systemd reads its mtime): the build's, not 1970 on a
# box without RTC battery; edge-clock-save.timer moves it on every hour
touch -d "@$SOURCE_DATE_EPOCH" "$ROOTFS/usr/lib/clock-epoch"
# by partition label: first boot may make the data partition LUKS2, whose file system is then
# /dev/mapper/edge-data (edge/appliance/datacrypt.py rewrites that line)
cat > "$ROOTFS/etc/fstab" <<'EOF'
PARTLABEL=edge-root  /              ext4  defaults,noatime,commit=30  0 1
PARTLABEL=edge-data  /var/lib/edge  ext4  defaults,noatime,nofail     0 2
EOF
echo edge > "$ROOTFS/etc/hostname"
in_root systemctl enable edge.service edge-firstboot.service edge-data-check.service edge-console.service edge-console.path edge-firewall.service \
    edge-firewall.path edge-update.path edge-update-recover.service edge-modem-watchdog.timer edge-disk-health.timer edge-clock-save.timer nftables.service chrony.service \
    NetworkManager.service ModemManager.service ssh.service
rm -f "$ROOTFS"/etc/ssh/ssh_host_*  # every box makes its own at first boot
: > "$ROOTFS/etc/machine-id"         # and its own machine ID
in_root /opt/edge/venv/bin/edge check-config /etc/edge/edge.toml

# -- the kernel and the boot loader ------------------------------------------------------------
# the kernel's package made its initramfs with the drivers of any board's root disk
# (virtio, MMC, NVMe, USB, SATA: firmware-overlay/usr/share/initramfs-tools/modules.d/edge);
# the data partition is opened after the root is up, from the root's modules
KERNEL=$(cd "$ROOTFS/boot" && ls vmlinuz-* | sort -V | tail -n 1)
ln -sfn "$KERNEL" "$ROOTFS/boot/vmlinuz"
ln -sfn "initrd.img-${KERNEL#vmlinuz-}" "$ROOTFS/boot/initrd.img"
# GRUB as one EFI program that finds the root by its label and reads the menu there
printf '%s\n' 'search --no-floppy --label edge-root --set=root' \
    'configfile ($root)/boot/grub/grub.cfg' > "$ROOTFS/tmp/grub-early.cfg"
in_root grub-mkimage -O arm64-efi -o /tmp/BOOTAA64.EFI -c /tmp/grub-early.cfg -p /boot/grub \
    part_gpt fat ext2 search search_label normal configfile linux echo gzio test \
    all_video efi_gop sleep reboot
mv "$ROOTFS/tmp/BOOTAA64.EFI" "$OUT/BOOTAA64.EFI"; rm -f "$ROOTFS/tmp/grub-early.cfg"

# -- smoke test under qemu-user --------------------------------------------------------------
if [ "$SMOKE" = 1 ]; then
    log "smoke test under qemu"
    in_root /opt/edge/venv/bin/edge --version
    in_root python3 -m venv /tmp/smoke
    cp -r "$OUT/smoke-wheels" "$ROOTFS/tmp/smoke-wheels"
    in_root /tmp/smoke/bin/pip install --quiet --no-index --find-links /tmp/smoke-wheels \
        tflite-runtime "numpy<2"
    cp edge/models/coco_ssd_mobilenet_v2.tflite "$ROOTFS/tmp/model.tflite"
    in_root /tmp/smoke/bin/python - <<'PY'
import numpy as np
from tflite_runtime.interpreter import Interpreter
interpreter = Interpreter("/tmp/model.tflite")
interpreter.allocate_tensors()
inp = interpreter.get_input_details()[0]
interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
interpreter.invoke()
print("smoke: one inference", [o["shape"].tolist() for o in interpreter.get_output_details()])
PY
    rm -rf "$ROOTFS/tmp/smoke" "$ROOTFS/tmp/smoke-wheels" "$ROOTFS/tmp/model.tflite"
    # a 10-s recording from a simulated camera on the host (the chroot shares its network),
    # decoded by PyAV inside the image; SMOKE_CAMERA=rtsp://... to use another camera
    if [ -z "${SMOKE_CAMERA:-}" ] && [ -x .venv/bin/python ]; then
        coproc CAMERA { exec .venv/bin/python tools/smoke_camera.py; }
        read -r SMOKE_CAMERA <&"${CAMERA[0]}"
    elif [ -z "${SMOKE_CAMERA:-}" ]; then
        log "no recording smoke test: it needs .venv (make venv) or SMOKE_CAMERA=rtsp://..."
    fi
    if [ -n "${SMOKE_CAMERA:-}" ]; then
        in_root /opt/edge/venv/bin/edge probe "$SMOKE_CAMERA"
        cat > "$ROOTFS/tmp/smoke.toml" <<EOF
[node]
id = "34020000001180000001"
data_dir = "/tmp/smoke-data"
[storage]
segment_seconds = 10
min_free_gb = 0.1
[web]
enabled = false
[quality]
enabled = false
[[cameras]]
id = "34020000001320000001"
name = "smoke"
url = "$SMOKE_CAMERA"
EOF
        in_root timeout -s INT 45 /opt/edge/venv/bin/edge run --config /tmp/smoke.toml \
            > "$OUT/smoke-run.log" 2>&1 || true
        in_root /opt/edge/venv/bin/python - <<'PY'
from pathlib import Path
import av
from edge.record.index import Index
index = Index(Path("/tmp/smoke-data"), readonly=True)
seconds = frames = 0.0
for segment in index.segments():
    with av.open(str(index.absolute(segment))) as container:
        frames += sum(1 for _ in container.decode(video=0))
    seconds += segment.end_ts - segment.start_ts
print(f"smoke: recorded {seconds:.1f} s, decoded {frames:.0f} frames by PyAV")
assert seconds >= 10 and frames >= 10 * 20, "less than 10 s recorded and decodable"
PY
        rm -rf "$ROOTFS/tmp/smoke-data" "$ROOTFS/tmp/smoke.toml"
        if [ -n "${CAMERA_PID:-}" ]; then exec {CAMERA[1]}>&-; wait "$CAMERA_PID" || true; fi
    fi
fi

# -- the manifest ----------------------------------------------------------------------------
in_root dpkg-query -W -f '${Package}\t${Version}\n' > "$OUT/packages.tsv"
cleanup; trap - EXIT
python3 - "$OUT" "$VERSION" <<'PY'
import hashlib, json, pathlib, subprocess, sys
out, version = pathlib.Path(sys.argv[1]), sys.argv[2]
wheels = {w.name: hashlib.sha256(w.read_bytes()).hexdigest()
          for w in sorted((out / "wheels").glob("*.whl"))}
packages = dict(line.split("\t") for line in (out / "packages.tsv").read_text().splitlines())
commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
(out / "manifest.json").write_text(json.dumps(
    {"edge": version, "commit": commit, "suite": "bookworm", "arch": "arm64",
     "packages": packages, "wheels": wheels}, indent=1, sort_keys=True))
PY

# -- the root file system as a tarball and as a disk image ---------------------------------
log "rootfs.tar and edge-arm64.img"
# what differs between two builds of one commit (tools/compare_builds.py) and belongs to
# no box: the build's own logs, the ldconfig cache (remade at boot), D-Bus's machine ID
# (every box's is its /etc/machine-id)
find "$ROOTFS/var/log" -type f -exec truncate -s 0 {} +
rm -f "$ROOTFS/var/cache/ldconfig/aux-cache"
ln -sfn /etc/machine-id "$ROOTFS/var/lib/dbus/machine-id"
find "$ROOTFS" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
tar --sort=name --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$ROOTFS" -cf "$OUT/rootfs.tar" .
IMG=$OUT/edge-arm64.img
rm -f "$IMG" "$OUT/esp.vfat" "$OUT/root.ext4" "$OUT/data.ext4"
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
ESP_UUID=00000000-0000-4000-8000-0000000000e0
ROOT_UUID=00000000-0000-4000-8000-0000000000e1
DATA_UUID=00000000-0000-4000-8000-0000000000e2
mkfs.ext4 -q -L edge-root -U $ROOT_UUID -E root_owner=0:0,hash_seed=$ROOT_UUID -d "$ROOTFS" \
    "$OUT/root.ext4" "${ROOT_MB}M"
mkdir -p "$OUT/data-empty"; chown $EDGE_UID:$EDGE_UID "$OUT/data-empty"
mkfs.ext4 -q -L edge-data -U $DATA_UUID -E hash_seed=$DATA_UUID -d "$OUT/data-empty" \
    "$OUT/data.ext4" "${DATA_MB}M"
# mkfs -d copies each file's ctime and atime from the host (no one can set a ctime): pin
# them, and crtime, to SOURCE_DATE_EPOCH so that two builds give the same image
pin_times() {
    (cd "$2" && find . -print) | awk -v e="$SOURCE_DATE_EPOCH" '{p = substr($0, 2); if (p == "") p = "/";
        for (i = 1; i <= 3; i++) printf "sif \"%s\" %s @%s\n", p, (i == 1 ? "atime" : i == 2 ? "ctime" : "crtime"), e}' \
        > "$OUT/pin-times.debugfs"
    problems=$(debugfs -w -f "$OUT/pin-times.debugfs" "$1" 2>&1 | grep -v '^debugfs' || true)
    [ -z "$problems" ] || { log "pinning times in $1: $problems"; exit 1; }
    e2fsck -fn "$1" > "$OUT/e2fsck.log" 2>&1 || { log "e2fsck $1: $(tail -n 3 "$OUT/e2fsck.log")"; exit 1; }
    rm -f "$OUT/e2fsck.log"
    rm -f "$OUT/pin-times.debugfs"
}
pin_times "$OUT/root.ext4" "$ROOTFS"
pin_times "$OUT/data.ext4" "$OUT/data-empty"
# the EFI system partition: GRUB on the removable-media path, so no NVRAM entry is needed
touch -d "@$SOURCE_DATE_EPOCH" "$OUT/BOOTAA64.EFI"
mkfs.vfat -n EDGE-ESP -i 0000EDE0 --invariant -C "$OUT/esp.vfat" $(( ESP_MB * 1024 )) >/dev/null
mmd -i "$OUT/esp.vfat" ::/EFI ::/EFI/BOOT
mcopy -m -i "$OUT/esp.vfat" "$OUT/BOOTAA64.EFI" ::/EFI/BOOT/BOOTAA64.EFI
truncate -s $(( (ESP_MB + ROOT_MB + DATA_MB + 2) * 1024 * 1024 )) "$IMG"
sgdisk -o -n 1:2048:+${ESP_MB}M -c 1:edge-esp -t 1:ef00 -u 1:$ESP_UUID \
    -n 2:0:+${ROOT_MB}M -c 2:edge-root -t 2:8305 -u 2:$ROOT_UUID \
    -n 3:0:+${DATA_MB}M -c 3:edge-data -t 3:8300 -u 3:$DATA_UUID \
    -U 00000000-0000-4000-8000-0000000000ed "$IMG" >/dev/null
first_sector() { sgdisk -i "$1" "$IMG" | sed -n 's/^First sector: \([0-9]*\).*/\1/p'; }
dd if="$OUT/esp.vfat" of="$IMG" bs=512 seek="$(first_sector 1)" conv=notrunc,sparse status=none
dd if="$OUT/root.ext4" of="$IMG" bs=512 seek="$(first_sector 2)" conv=notrunc,sparse status=none
dd if="$OUT/data.ext4" of="$IMG" bs=512 seek="$(first_sector 3)" conv=notrunc,sparse status=none
rm -rf "$OUT/esp.vfat" "$OUT/root.ext4" "$OUT/data.ext4" "$OUT/data-empty" "$OUT/BOOTAA64.EFI"
(cd "$OUT" && sha256sum rootfs.tar edge-arm64.img manifest.json > SHA256SUMS)
log "done in $(( $(date +%s) - started )) s: $(du -h "$IMG" | cut -f1) image ($(du -h --apparent-size "$IMG" | cut -f1) apparent), $(du -h "$OUT/rootfs.tar" | cut -f1) rootfs.tar"
