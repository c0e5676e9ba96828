import Hummingbird
import Logging

/// The request context of every route: Hummingbird's core context with a small body limit, because no request of
/// this API needs more than a few kilobytes and a large body is refused before it is read.
public struct RegisterRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// 64 KiB: larger bodies get 413 before anything is decoded or written.
    public var maxUploadSize: Int { 64 * 1024 }
}
