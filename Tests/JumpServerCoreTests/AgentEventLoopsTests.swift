import JumpServerCore
import Testing

@Suite struct AgentEventLoopsTests {
    @Test(arguments: [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8), (128, 64), (256, 64)])
    func theDefaultIsHalfTheCoresWithinItsBounds(cores: Int, loops: Int) {
        #expect(AgentEventLoops.count(nil, cores: cores) == loops)
    }

    @Test func aSettingIsAWholeNumberFromOneToTheMaximum() {
        #expect(AgentEventLoops.count("1", cores: 2) == 1)
        #expect(AgentEventLoops.count("64", cores: 2) == 64)
        for refused in ["0", "65", "-1", "two", "", " 2", "2.0"] {
            #expect(AgentEventLoops.count(refused, cores: 2) == nil, "\(refused)")
        }
    }
}
