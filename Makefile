# Two entry points that work on a fresh Debian 12 machine as root:
#   make demo   install and run the appliance with simulated cameras
#   make test   install everything and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := python3-venv python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad ffmpeg procps sip-tester mosquitto mosquitto-clients
# the full-system emulator and UEFI firmware the boot test boots the image in
BOOT_PACKAGES := qemu-system-arm qemu-efi-aarch64 dosfstools mtools openssh-client
# the browser the web UI tests drive, a Chinese font for their screenshots, and nft to
# check the firewall rules the appliance writes
TEST_PACKAGES := chromium fonts-wqy-microhei nftables cryptsetup-bin

.PHONY: demo test system system-test venv bench image boot-test

system:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_PACKAGES); fi

system-test: system
	@if ! dpkg -s $(TEST_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(TEST_PACKAGES); fi

venv: system
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# the ONVIF camera the PTZ tests steer (tests/integration/onvif_camera.py); without its
	# dependencies: it asks for opencv-python, the headless one above serves it
	$(PY) -m pip install -q --no-deps 'ipycam==1.3.0'

demo: venv
	$(VENV)/bin/edge demo

test: system-test venv
	$(PY) -m pytest -p no:cacheprovider --durations=30 -n 2 --dist loadfile

bench: venv
	$(PY) bench/record.py
	$(PY) bench/sip.py
	$(PY) bench/mqtt.py
	$(PY) bench/media.py
	$(PY) bench/uplink.py

# the ARM64 appliance image (as root; see build-image.sh). The venv serves the simulated
# camera its smoke test records from.
image: venv
	./build-image.sh

# the image booted as a whole box in full-system emulation (tests/boot): first boot, set-up
# in the browser, power cuts. BOOT_TEST=short: one power cut (CI); the image is built first
# unless EDGE_BOOT_IMAGE names one.
BOOT_TEST ?= full
boot-test: venv
	@if ! dpkg -s $(BOOT_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BOOT_PACKAGES); fi
	@if [ -z "$(EDGE_BOOT_IMAGE)" ]; then SMOKE=0 BASE_CACHE=$(HOME)/.cache/edge/image ./build-image.sh; fi
	EDGE_BOOT_TEST=$(BOOT_TEST) $(PY) -m pytest -p no:cacheprovider -s tests/boot
