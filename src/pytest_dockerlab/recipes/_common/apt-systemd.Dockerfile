# A VM-like host of the apt family (Debian, Ubuntu): systemd as PID 1, python3 and sudo
# for Ansible. Shared by the debian* and ubuntu* recipes; BASE comes from their recipe.yml.
ARG BASE
FROM ${BASE}

ENV container=docker \
    DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8

# As Debian's official images (debuerreotype): a throwaway container's dpkg need not fsync
# each file it unpacks (a cold converge's package installs take a quarter less time), and
# apt fetches no translated descriptions. `./run bench coldpath` measures both.
RUN echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/docker-apt-speedup \
 && echo 'Acquire::Languages "none";' > /etc/apt/apt.conf.d/docker-no-languages

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      systemd systemd-sysv dbus python3 python3-apt sudo ca-certificates iproute2 procps \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && touch -d @0 /var/lib/apt/lists
# The lists are gone, so make them look old: Ansible's apt `cache_valid_time` reads this
# folder's mtime and would otherwise skip the update and find no packages.

# Units that fail or spin in a container: no consoles, no udev, no kernel mounts.
# Masking them makes `systemctl is-system-running` say "running", not "degraded".
RUN systemctl mask \
      getty.target console-getty.service serial-getty@.service getty@.service \
      systemd-logind.service systemd-udevd.service systemd-udev-trigger.service \
      systemd-udevd-control.socket systemd-udevd-kernel.socket \
      systemd-remount-fs.service systemd-firstboot.service systemd-modules-load.service \
      sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
      sys-fs-fuse-connections.mount dev-hugepages.mount dev-mqueue.mount \
      proc-sys-fs-binfmt_misc.automount systemd-binfmt.service \
      systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
 && systemctl set-default multi-user.target

STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
