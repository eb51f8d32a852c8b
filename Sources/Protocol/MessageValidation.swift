import FoundationEssentials

/// The bounds of ``ProtocolLimits`` applied to decoded messages. Protobuf decoding already keeps
/// every length inside the frame; these checks keep each field inside what its meaning allows.
extension WireEnvelope {
    /// Throws ``ProtocolError/Code/limitExceeded`` for the first field beyond its bound.
    public func validate() throws(ProtocolError) {
        let check = BoundsCheck()
        switch body {
        case .hello(let m): try check.hello(m)
        case .welcome(let m): try check.welcome(m)
        case .enrollRequest(let m): try check.enrollRequest(m)
        case .enrollResponse(let m): try check.enrollResponse(m)
        case .statsReport(let m): try check.statsReport(m)
        case .siteConfig(let m): try check.siteConfig(m)
        case .command(let m): try check.command(m)
        case .ack(let m): try check.text(m.detail, "Ack.detail")
        case .retryAfter(let m): try check.text(m.reason, "RetryAfter.reason")
        case .notice(let m): try check.text(m.text, "Notice.text")
        case .goodbye(let m): try check.text(m.detail, "Goodbye.detail")
        case .renewRequest(let m): try check.bytes(m.csr, max: ProtocolLimits.maximumCSRLength, "RenewRequest.csr")
        case .sessionEvent(let m): try check.text(m.detail, "SessionEvent.detail")
        case .localUninstall(let m): try check.short(m.localUser, "LocalUninstall.local_user")
        case .supportRequest(let m): try check.supportRequest(m)
        case .supportResponse(let m): try check.supportResponse(m)
        case nil: break
        }
    }
}

private struct BoundsCheck {
    func fail(_ field: String, _ what: String) -> ProtocolError {
        ProtocolError(.limitExceeded, "\(field): \(what)")
    }

    func short(_ value: String, _ field: String) throws(ProtocolError) {
        if value.utf8.count > ProtocolLimits.maximumShortStringLength {
            throw fail(field, "longer than \(ProtocolLimits.maximumShortStringLength) bytes")
        }
        try noNUL(value, field)
    }

    func text(_ value: String, _ field: String) throws(ProtocolError) {
        if value.utf8.count > ProtocolLimits.maximumTextLength {
            throw fail(field, "longer than \(ProtocolLimits.maximumTextLength) bytes")
        }
        try noNUL(value, field)
    }

    /// U+0000 ends a string for C, and so for SQLite's and the kernel's interfaces; no field needs it.
    func noNUL(_ value: String, _ field: String) throws(ProtocolError) {
        if value.utf8.contains(0) { throw fail(field, "contains U+0000") }
    }

    func bytes(_ value: Data, max: Int, _ field: String) throws(ProtocolError) {
        if value.count > max { throw fail(field, "longer than \(max) bytes") }
    }

    func count(_ count: Int, max: Int, _ field: String) throws(ProtocolError) {
        if count > max { throw fail(field, "more than \(max) entries") }
    }

    /// `allowed` in ascending order. An array literal, not a set: a constant array is laid out once by
    /// the compiler, where a set literal is built (allocated and hashed) at every call, and a report
    /// with network facts makes several.
    func exactLength(_ value: Data, in allowed: [Int], _ field: String) throws(ProtocolError) {
        if !allowed.contains(value.count) {
            throw fail(field, "\(value.count) bytes, expected one of \(allowed)")
        }
    }

    func hello(_ m: WireHello) throws(ProtocolError) {
        try short(m.softwareVersion, "Hello.software_version")
        try short(m.platform.os, "Hello.platform.os")
        try short(m.platform.architecture, "Hello.platform.architecture")
    }

    func welcome(_ m: WireWelcome) throws(ProtocolError) {
        try short(m.softwareVersion, "Welcome.software_version")
        try short(m.clientID, "Welcome.client_id")
        try siteConfig(m.config)
    }

    func enrollRequest(_ m: WireEnrollRequest) throws(ProtocolError) {
        if m.token.count < ProtocolLimits.minimumTokenLength || m.token.count > ProtocolLimits.maximumTokenLength {
            throw fail(
                "EnrollRequest.token",
                "\(m.token.count) bytes, expected \(ProtocolLimits.minimumTokenLength) to \(ProtocolLimits.maximumTokenLength)"
            )
        }
        try bytes(m.csr, max: ProtocolLimits.maximumCSRLength, "EnrollRequest.csr")
        let o = m.overrides
        try short(o.name, "InstallOverrides.name")
        try short(o.tag, "InstallOverrides.tag")
        try text(o.comments, "InstallOverrides.comments")
        try short(o.group, "InstallOverrides.group")
        try text(o.installDir, "InstallOverrides.install_dir")
        try short(o.jumpPolicy, "InstallOverrides.jump_policy")
        try hostFacts(m.host)
    }

    func supportRequest(_ m: WireSupportRequest) throws(ProtocolError) {
        try exactLength(m.key, in: [SupportCode.keyLength], "SupportRequest.key")
        try short(m.localUser, "SupportRequest.local_user")
        try hostFacts(m.host)
    }

    func supportResponse(_ m: WireSupportResponse) throws(ProtocolError) {
        try text(m.detail, "SupportResponse.detail")
        try short(m.supportID, "SupportResponse.support_id")
        try short(m.representative, "SupportResponse.representative")
    }

    func enrollResponse(_ m: WireEnrollResponse) throws(ProtocolError) {
        try text(m.detail, "EnrollResponse.detail")
        try short(m.clientID, "EnrollResponse.client_id")
        try bytes(m.certificate, max: ProtocolLimits.maximumCertificateLength, "EnrollResponse.certificate")
        try siteConfig(m.config)
    }

    func hostFacts(_ m: WireHostFacts) throws(ProtocolError) {
        try short(m.hostname, "HostFacts.hostname")
        try short(m.osName, "HostFacts.os_name")
        try short(m.osVersion, "HostFacts.os_version")
        try short(m.kernel, "HostFacts.kernel")
        try short(m.architecture, "HostFacts.architecture")
        try short(m.model, "HostFacts.model")
        try short(m.agentVersion, "HostFacts.agent_version")
    }

    func statsReport(_ m: WireStatsReport) throws(ProtocolError) {
        if m.hasCpuPermille, m.cpuPermille > 1000 { throw fail("StatsReport.cpu_permille", "above 1000") }
        try count(m.cpuPermillePerCpu.count, max: ProtocolLimits.maximumCPUs, "StatsReport.cpu_permille_per_cpu")
        if m.cpuPermillePerCpu.contains(where: { $0 > 1000 }) {
            throw fail("StatsReport.cpu_permille_per_cpu", "a value above 1000")
        }
        try short(m.console.user, "ConsoleState.user")
        try count(m.disks.count, max: ProtocolLimits.maximumDisks, "StatsReport.disks")
        for disk in m.disks {
            try text(disk.mountPoint, "Disk.mount_point")
            try short(disk.filesystem, "Disk.filesystem")
        }
        try bytes(m.thumbnail.jpeg, max: ProtocolLimits.maximumThumbnailBytes, "Thumbnail.jpeg")
        if m.thumbnail.width > ProtocolLimits.maximumThumbnailSide
            || m.thumbnail.height > ProtocolLimits.maximumThumbnailSide
        {
            throw fail("Thumbnail", "a side larger than \(ProtocolLimits.maximumThumbnailSide) pixels")
        }
        try text(m.thumbnailDetail, "StatsReport.thumbnail_detail")
        // Facts come in the first report of a connection and when they change; absent, there is nothing to check.
        if m.hasHost { try hostFacts(m.host) }
        if m.hasNetwork { try networkFacts(m.network) }
    }

    func networkFacts(_ m: WireNetworkFacts) throws(ProtocolError) {
        try count(m.interfaces.count, max: ProtocolLimits.maximumInterfaces, "NetworkFacts.interfaces")
        for interface in m.interfaces {
            try short(interface.name, "NetworkInterface.name")
            try exactLength(interface.mac, in: [0, 6], "NetworkInterface.mac")
            try count(
                interface.addresses.count,
                max: ProtocolLimits.maximumAddressesPerInterface,
                "NetworkInterface.addresses"
            )
            for address in interface.addresses {
                try exactLength(address.ip, in: [4, 16], "InterfaceAddress.ip")
                if address.prefixLength > UInt32(address.ip.count * 8) {
                    throw fail("InterfaceAddress.prefix_length", "\(address.prefixLength) is beyond the address")
                }
            }
        }
        try exactLength(m.gatewayIpv4, in: [0, 4], "NetworkFacts.gateway_ipv4")
        try exactLength(m.gatewayIpv4Mac, in: [0, 6], "NetworkFacts.gateway_ipv4_mac")
        try short(m.gatewayIpv4Interface, "NetworkFacts.gateway_ipv4_interface")
        try exactLength(m.gatewayIpv6, in: [0, 16], "NetworkFacts.gateway_ipv6")
        try short(m.gatewayIpv6Interface, "NetworkFacts.gateway_ipv6_interface")
    }

    func siteConfig(_ m: WireSiteConfig) throws(ProtocolError) {
        try count(m.statistics.count, max: ProtocolLimits.maximumStatistics, "SiteConfig.statistics")
    }

    func command(_ m: WireCommand) throws(ProtocolError) {
        try short(m.agentID, "Command.agent_id")
        switch m.action {
        case .wake(let wake):
            try count(wake.targetMacs.count, max: ProtocolLimits.maximumWakeTargets, "Wake.target_macs")
            for mac in wake.targetMacs { try exactLength(mac, in: [6], "Wake.target_macs") }
            try exactLength(wake.secureOnPassword, in: [0, 4, 6], "Wake.secure_on_password")
            try short(wake.interface, "Wake.interface")
        case .uninstall(let uninstall):
            try text(uninstall.detail, "Uninstall.detail")
        case .upgrade(let upgrade):
            try short(upgrade.version, "Upgrade.version")
            try text(upgrade.url, "Upgrade.url")
            try exactLength(upgrade.sha256, in: [32], "Upgrade.sha256")
        case .openSession(let open):
            try short(open.user, "OpenSession.user")
            try short(open.term, "OpenSession.term")
            try short(open.sessionID, "OpenSession.session_id")
            try terminalSize(columns: open.columns, rows: open.rows, "OpenSession")
            if open.initialWindow > ProtocolLimits.maximumWindowSize {
                throw fail("OpenSession.initial_window", "above \(ProtocolLimits.maximumWindowSize)")
            }
        case .closeSession(let close):
            try text(close.reason, "CloseSession.reason")
        case .resizeSession(let resize):
            try terminalSize(columns: resize.columns, rows: resize.rows, "ResizeSession")
        case .pin(let pin):
            try bytes(pin.installer, max: ProtocolLimits.maximumInstallerLength, "Pin.installer")
        case nil:
            break
        }
    }

    func terminalSize(columns: UInt32, rows: UInt32, _ field: String) throws(ProtocolError) {
        if columns > ProtocolLimits.maximumTerminalColumns || rows > ProtocolLimits.maximumTerminalRows {
            throw fail(field, "terminal size \(columns)x\(rows) is beyond the bound")
        }
    }
}
