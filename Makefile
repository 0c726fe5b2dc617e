# Two entry points that work on a fresh Debian 12 machine as root:
#   make demo   install and run the appliance with simulated cameras
#   make test   install everything and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := python3-venv python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad ffmpeg procps sip-tester mosquitto mosquitto-clients
# the browser the web UI tests drive, a Chinese font for their screenshots, and nft to
# check the firewall rules the appliance writes
TEST_PACKAGES := chromium fonts-wqy-microhei nftables cryptsetup-bin

.PHONY: demo test system system-test venv bench image

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

demo: venv
	$(VENV)/bin/edge demo

test: system-test venv
	$(PY) -m pytest -p no:cacheprovider

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
