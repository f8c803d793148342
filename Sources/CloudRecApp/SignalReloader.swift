import Logging
import ServiceLifecycle
import UnixSignals

/// Re-reads the configuration on SIGHUP, as Prometheus and its exporters do.
public struct SignalReloader: Service {
    let app: ExporterApp

    public init(app: ExporterApp) { self.app = app }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            app.logger.info("SIGHUP received, reloading configuration")
            _ = await app.reload()
        }
    }
}
