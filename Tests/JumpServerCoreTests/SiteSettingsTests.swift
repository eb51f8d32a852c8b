import JumpProtocol
import JumpServerCore
import Testing

@Suite struct SiteSettingsTests {
    @Test func defaultsFollowTheGuide() {
        let settings = SiteSettings()
        #expect(settings.connectionRate == 50)
        #expect(settings.lostDays >= 15 && settings.deleteDays >= 15)
        #expect(settings.lostDays < settings.deleteDays)
        #expect(settings.statistics == Set(SiteSettings.Statistic.allCases))
    }

    @Test(arguments: [
        ("connection-rate", "0"), ("connection-rate", "301"), ("connection-rate", "fifty"),
        ("lost-days", "14"), ("delete-days", "14"), ("delete-days", "-1"),
        ("upgrade-max-bandwidth", "101"), ("upgrade-max-bandwidth", "0"),
        ("upgrade-max-concurrent", "501"), ("upgrade-mode", "sometimes"),
        ("statistics", "cpu,gpu"), ("statistics-interval", "5"), ("uninstalled-behavior", "forget"),
        ("allow-wake", "maybe"),
    ])
    func outOfRangeValuesAreRefusedWithTheRange(_ key: String, _ value: String) {
        var settings = SiteSettings()
        let before = settings
        #expect(throws: SettingError.self) { try settings.set(key, to: value) }
        #expect(settings == before, "a refused value changes nothing")
    }

    @Test func messagesSayWhatIsAllowed() {
        var settings = SiteSettings()
        do {
            try settings.set("connection-rate", to: "500")
            Issue.record("500 is beyond the maximum")
        } catch {
            #expect(error.description == "connection-rate: 500 is out of range: connection-rate must be from 1 to 300 connections per second")
        }
        do {
            try settings.set("delete-days", to: "10")
            Issue.record("10 is below 15")
        } catch {
            #expect(error.description.contains("from 15"))
        }
        #expect(throws: SettingError.unknownKey("colour")) { try settings.set("colour", to: "blue") }
    }

    @Test(arguments: [
        ("connection-rate", "300", "300"), ("connection-rate", "1", "1"), ("lost-days", "15", "15"),
        ("upgrade-max-bandwidth", "100", "100"), ("upgrade-max-concurrent", "500", "500"),
        ("statistics", "uptime, cpu", "cpu,uptime"), ("statistics", "", ""),
        ("upgrade-mode", "this-cycle", "this-cycle"), ("uninstalled-behavior", "remove", "remove"),
        ("restrict-local-uninstall", "yes", "true"), ("simultaneous-jumps", "false", "false"),
    ])
    func boundaryValuesAreAccepted(_ key: String, _ value: String, _ shown: String) throws {
        var settings = SiteSettings()
        try settings.set(key, to: value)
        #expect(try settings.value(of: key) == shown)
    }

    @Test func lostNotBelowDeleteWarns() throws {
        var settings = SiteSettings()
        try settings.set("delete-days", to: "20")
        let warnings = try settings.set("lost-days", to: "20")
        #expect(warnings.count == 1)
        #expect(warnings[0].contains("lost-days (20) is not below delete-days (20)"))
    }

    @Test func storedFormRoundTrips() throws {
        var settings = SiteSettings()
        try settings.set("statistics", to: "cpu,disk")
        try settings.set("connection-rate", to: "120")
        try settings.set("screen-state-presence", to: "false")
        #expect(SiteSettings(stored: settings.values) == settings)
    }

    @Test func agentsReceiveTheirPart() throws {
        var settings = SiteSettings()
        try settings.set("statistics", to: "cpu,thumbnail")
        try settings.set("delete-days", to: "45")
        try settings.set("restrict-local-uninstall", to: "true")
        let config = settings.siteConfig
        #expect(config.statistics == [.cpu, .thumbnail])
        #expect(config.deleteAfterDays == 45)
        #expect(config.restrictLocalUninstall)
        #expect(config.statisticsIntervalSeconds == 60)
    }

    @Test func theReconnectSpreadIsHalfTheTimeToAdmitEveryClient() {
        #expect(ClientHub.reconnectSpread(clients: 1000, rate: 300) == 1667)
        #expect(ClientHub.reconnectSpread(clients: 1000, rate: 50) == 10_000)
        #expect(ClientHub.reconnectSpread(clients: 25_000, rate: 50) == 250_000)
        #expect(ClientHub.reconnectSpread(clients: 10, rate: 300) == 1000, "at least a second")
        #expect(ClientHub.reconnectSpread(clients: 0, rate: 0) == 1000)
    }
}
