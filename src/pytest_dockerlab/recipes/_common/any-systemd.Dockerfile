# A Molecule platform image that names no distribution of ours (fedora, archlinux, opensuse,
# amazonlinux, a company's own), pulled where a registry answers and made a VM-like host as
# the recipes make theirs: systemd as PID 1, python3 and sudo for Ansible, installed with
# whichever package manager the image has. An image that has them already (Molecule's
# systemd test images) only gets its console and kernel units masked.
ARG BASE
FROM ${BASE}

ENV container=docker

RUN set -e; \
    need=""; \
    [ -x /lib/systemd/systemd ] || [ -x /usr/lib/systemd/systemd ] || need="$need systemd"; \
    command -v python3 >/dev/null || need="$need python3"; \
    command -v sudo >/dev/null || need="$need sudo"; \
    if [ -z "$need" ]; then exit 0; fi; \
    if command -v apt-get >/dev/null; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        $need systemd-sysv dbus && rm -rf /var/lib/apt/lists/*; \
    elif command -v dnf >/dev/null; then dnf -y install $need && dnf clean all; \
    elif command -v yum >/dev/null; then yum -y install $need && yum clean all; \
    elif command -v zypper >/dev/null; then zypper -n install $need && zypper clean; \
    elif command -v pacman >/dev/null; then pacman -Syu --noconfirm $need; \
    else echo "the image lacks$need and has no package manager known here" \
              "(apt-get, dnf, yum, zypper, pacman): it cannot boot as a VM-like host" >&2; \
         exit 1; \
    fi

# systemd where the image has it, under one name for CMD.
RUN ln -sf "$(for p in /usr/lib/systemd/systemd /lib/systemd/systemd; do \
               [ -x "$p" ] && echo "$p" && break; done)" /usr/local/sbin/dockerlab-init \
 && systemctl mask getty.target console-getty.service systemd-logind.service \
      systemd-udevd.service systemd-udev-trigger.service systemd-remount-fs.service \
      systemd-firstboot.service sys-kernel-debug.mount sys-kernel-tracing.mount \
      sys-kernel-config.mount dev-hugepages.mount dev-mqueue.mount \
      proc-sys-fs-binfmt_misc.automount \
 && systemctl set-default multi-user.target

STOPSIGNAL SIGRTMIN+3
CMD ["/usr/local/sbin/dockerlab-init"]
