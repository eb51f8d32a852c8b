/// The systemd units an installed Jump Client runs under: the agent's service, and a timer that checks
/// the offline lease on its own, so an agent that crash-loops still uninstalls itself in time.
public struct SystemdUnits: Hashable, Sendable {
    /// The service's name, e.g. "jump-client-jc-0123456789abcdef.service".
    public let service: String
    public let leaseService: String
    public let leaseTimer: String
    let directory: String

    public init(clientID: String, directory: String) {
        service = "jump-client-\(clientID).service"
        leaseService = "jump-client-\(clientID)-lease.service"
        leaseTimer = "jump-client-\(clientID)-lease.timer"
        self.directory = directory
    }

    /// Every unit file name, for installing and removing.
    public var files: [String] { [service, leaseService, leaseTimer] }

    /// The sandbox both services share: no kernel tunables, modules, logs, cgroups, clock or
    /// hostname; no new namespaces, realtime or set-uid files; native system calls of ordinary
    /// services only; files private by default.
    static let hardening = """
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectKernelLogs=yes
        ProtectControlGroups=yes
        ProtectClock=yes
        ProtectHostname=yes
        RestrictNamespaces=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        MemoryDenyWriteExecute=yes
        SystemCallArchitectures=native
        SystemCallFilter=@system-service
        UMask=0077
        """

    public var serviceText: String {
        """
        [Unit]
        Description=Jump Client (\(directory))
        Wants=network-online.target
        After=network-online.target

        [Service]
        Type=notify
        NotifyAccess=main
        ExecStart=\(directory)/bin/jump-agent run --dir \(directory)
        Restart=always
        RestartSec=5
        WatchdogSec=60
        TimeoutStopSec=20
        # Its state and certificate, and the control socket, are the only files it writes.
        ReadWritePaths=\(directory)/var \(directory)/etc \(directory)/run
        ProtectSystem=strict
        # The screen helper reads the console user's ~/.Xauthority as that user.
        ProtectHome=read-only
        # Not PrivateTmp: the X server's sockets are in /tmp/.X11-unix.
        PrivateDevices=yes
        NoNewPrivileges=yes
        # SETUID/SETGID: the screen helper becomes the console user. SYS_PTRACE: reading the
        # environment of the user's programs (the display's cookie). DAC_READ_SEARCH: /run/user/UID.
        # KILL: ending a helper that no longer answers. NET_RAW: Wake-on-LAN bound to an interface.
        CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_KILL CAP_NET_RAW
        ProtectProc=default
        RemoveIPC=no
        SystemCallErrorNumber=EPERM
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
        \(Self.hardening)

        [Install]
        WantedBy=multi-user.target

        """
    }

    public var leaseServiceText: String {
        """
        [Unit]
        Description=Jump Client offline lease check (\(directory))

        [Service]
        Type=oneshot
        ExecStart=\(directory)/bin/jump-agent check-lease --dir \(directory)
        ReadWritePaths=\(directory)/var
        ProtectSystem=strict
        ProtectHome=yes
        PrivateTmp=yes
        PrivateDevices=yes
        NoNewPrivileges=yes
        CapabilityBoundingSet=
        RestrictAddressFamilies=AF_UNIX
        \(Self.hardening)

        """
    }

    public var leaseTimerText: String {
        """
        [Unit]
        Description=Jump Client offline lease check, every six hours (\(directory))

        [Timer]
        OnBootSec=15min
        OnUnitActiveSec=6h
        RandomizedDelaySec=10min

        [Install]
        WantedBy=timers.target

        """
    }

    /// The text of a unit file by its name.
    public func text(of file: String) -> String? {
        switch file {
        case service: serviceText
        case leaseService: leaseServiceText
        case leaseTimer: leaseTimerText
        default: nil
        }
    }
}
