import Foundation
import Synchronization

/// Runs a database call with a deadline. A call on a database that stopped answering (a stopped server, a cut
/// network) can wait for a pool connection for long: registrations must answer 503 in time, and the lease keeper
/// must reach its fencing deadline whatever the database does. At the deadline the caller gets `StorageError` and
/// the call is cancelled and left to finish on its own.
public enum Deadline {
    /// The one continuation, resumed by whichever comes first: the call, the deadline or the caller's cancellation.
    private final class Race<T: Sendable>: Sendable {
        let waiting = Mutex<CheckedContinuation<T, any Error>?>(nil)
        let work = Mutex<Task<Void, Never>?>(nil)
        let timer = Mutex<Task<Void, Never>?>(nil)

        func finish(_ result: Result<T, any Error>) {
            let continuation = waiting.withLock { waiting in
                defer { waiting = nil }
                return waiting
            }
            continuation?.resume(with: result)
            timer.withLock { $0?.cancel() }
        }

        func cancelWork() { work.withLock { $0?.cancel() } }
    }

    public static func run<T: Sendable>(seconds: Double, _ what: String,
                                        _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.waiting.withLock { $0 = continuation }
                race.work.withLock { $0 = Task {
                    do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
                } }
                race.timer.withLock { $0 = Task {
                    guard (try? await Task.sleep(for: .seconds(max(seconds, 0.001)))) != nil else { return }
                    race.cancelWork()
                    race.finish(.failure(StorageError("\(what): the task database did not answer within \(seconds) s")))
                } }
            }
        } onCancel: {
            race.cancelWork()
            race.finish(.failure(CancellationError()))
        }
    }
}
