import ArgumentParser
import Foundation

/// What went wrong, and the exit status that says so:
/// 1 failure, 64 usage, 65 the appliance refused the input, 66 not found, 69 appliance unreachable,
/// 75 try again later, 77 not logged in or not allowed.
enum CLIError: Error, CustomStringConvertible {
    case failure(String)
    case usage(String)
    case rejected(String)
    case notFound(String)
    case unreachable(String)
    case denied(String)
    case tryLater(String)

    var description: String {
        switch self {
        case .failure(let m), .usage(let m), .rejected(let m), .notFound(let m), .unreachable(let m), .denied(let m), .tryLater(let m): m
        }
    }

    var exitCode: Int32 {
        switch self {
        case .failure: 1
        case .usage: 64
        case .rejected: 65
        case .notFound: 66
        case .unreachable: 69
        case .tryLater: 75
        case .denied: 77
        }
    }

    /// The error for an API answer that is not a success.
    static func from(_ response: APIClient.Response) -> CLIError {
        struct Problem: Decodable {
            struct Inner: Decodable { var message: String }
            var error: Inner
        }
        let message = (try? JSONDecoder().decode(Problem.self, from: response.body))?.error.message
            ?? "the appliance answered \(response.status)"
        switch response.status {
        case 400, 409, 413, 422: return .rejected(message)
        case 401, 403: return .denied(message)
        case 404: return .notFound(message)
        case 429: return .tryLater(message)
        case 502: return .failure(message)
        case 500...: return .failure("the appliance failed: \(message)")
        default: return .failure(message)
        }
    }
}

/// Runs a command body, turning ``CLIError`` into its message and exit status.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as CLIError {
        FileHandle.standardError.write(Data("jumpctl: \(error)\n".utf8))
        throw ExitCode(error.exitCode)
    }
}
