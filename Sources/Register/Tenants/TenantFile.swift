import EventLog
import Foundation
import Yams

/// A tenant file that cannot be used, with every problem found, each with its line.
public struct TenantFileError: Error, Sendable, CustomStringConvertible {
    /// The file's name as given.
    public var file: String
    public var issues: [ConfigurationIssue]

    /// One line per problem: `Tenants/lohja.yaml:12: units[2].code: 'x' is used twice`.
    public var description: String {
        issues.map { issue in "\(file):\(issue.line.map(String.init) ?? "?"): \(issue)" }.joined(separator: "\n")
    }
}

/// Reads and validates tenant files.
public enum TenantFile {
    /// Loads and validates one file.
    /// - Throws: `TenantFileError` listing every problem with its line; nothing is half-loaded.
    public static func load(_ url: URL) throws(TenantFileError) -> TenantConfiguration {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw TenantFileError(file: url.path, issues: [ConfigurationIssue([], "the file cannot be read")])
        }
        return try parse(text, file: url.path)
    }

    /// Loads every `*.yaml` file of a directory, in name order; the first bad file stops the load, and so does a
    /// unit whose operator names a tenant that is not among them (or not that operator).
    public static func loadDirectory(_ url: URL) throws -> [TenantConfiguration] {
        let names = try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasSuffix(".yaml") }.sorted()
        let loaded = try names.map { (url.appendingPathComponent($0), try load(url.appendingPathComponent($0))) }
        try checkOperators(loaded, known: [:])
        return loaded.map(\.1)
    }

    /// Checks the units' operators of files loaded together, against each other and the tenants already `known`.
    /// - Throws: `TenantFileError` for the first file with a problem, each with its line.
    public static func checkOperators(_ files: [(URL, TenantConfiguration)], known: [TenantID: TenantConfiguration]) throws(TenantFileError) {
        var all = known
        for (_, configuration) in files { all[configuration.id] = configuration }
        for (file, configuration) in files {
            let issues = configuration.operatorIssues(known: all)
            guard !issues.isEmpty else { continue }
            let node = (try? String(contentsOf: file, encoding: .utf8)).flatMap { try? Yams.compose(yaml: $0) }
            throw TenantFileError(file: file.path, issues: issues.map { issue in node.map { locate(issue, in: $0) } ?? issue })
        }
    }

    /// Parses and validates YAML text.
    public static func parse(_ text: String, file: String) throws(TenantFileError) -> TenantConfiguration {
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                throw TenantFileError(file: file, issues: [ConfigurationIssue([], "the file is empty", line: 1)])
            }
            node = composed
        } catch let error as TenantFileError {
            throw error
        } catch {
            throw TenantFileError(file: file, issues: [syntaxIssue(error)])
        }
        let configuration: TenantConfiguration
        do {
            configuration = try YAMLDecoder().decode(TenantConfiguration.self, from: node)
        } catch let error as DecodingError {
            throw TenantFileError(file: file, issues: [locate(issue(from: error), in: node)])
        } catch {
            throw TenantFileError(file: file, issues: [ConfigurationIssue([], "the file cannot be decoded", line: 1)])
        }
        var issues = unknownKeys(in: node, comparedWith: configuration)
        issues += configuration.validationIssues()
        let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        if file.hasSuffix(".yaml"), name != configuration.id.rawValue {
            issues.append(ConfigurationIssue([.key("id")], "the id must equal the file's name (\(name).yaml)"))
        }
        guard issues.isEmpty else {
            throw TenantFileError(file: file, issues: issues.map { locate($0, in: node) })
        }
        return configuration
    }

    // MARK: Locating problems

    private static func syntaxIssue(_ error: any Error) -> ConfigurationIssue {
        if let error = error as? YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                return ConfigurationIssue([], "not valid YAML: \(problem)", line: mark.line)
            case .duplicatedKeysInMapping(let duplicates, let context):
                return ConfigurationIssue([], "a key appears twice: \(duplicates.joined(separator: ", "))", line: context.mark.line)
            default: break
            }
        }
        return ConfigurationIssue([], "not valid YAML", line: 1)
    }

    private static func issue(from error: DecodingError) -> ConfigurationIssue {
        func path(_ codingPath: [any CodingKey]) -> [ConfigurationIssue.PathComponent] {
            codingPath.map { key in key.intValue.map { .index($0) } ?? .key(key.stringValue) }
        }
        switch error {
        case .keyNotFound(let key, let context):
            return ConfigurationIssue(path(context.codingPath), "'\(key.stringValue)' is missing")
        case .typeMismatch(let type, let context):
            return ConfigurationIssue(path(context.codingPath), "expected \(describe(type))")
        case .valueNotFound(let type, let context):
            return ConfigurationIssue(path(context.codingPath), "expected \(describe(type)), found nothing")
        case .dataCorrupted(let context):
            let message = context.debugDescription.contains("Cannot initialize") ? "not one of the allowed values" : context.debugDescription
            return ConfigurationIssue(path(context.codingPath), message)
        @unknown default:
            return ConfigurationIssue([], "the file cannot be decoded")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "text"
        case is Bool.Type: "true or false"
        case is Int.Type: "a whole number"
        default: "a \(String(describing: type).lowercased())"
        }
    }

    /// Finds the line of the deepest node on the issue's path.
    private static func locate(_ issue: ConfigurationIssue, in root: Node) -> ConfigurationIssue {
        var located = issue
        var node = root
        var line = root.mark?.line
        for component in issue.path {
            let next: Node?
            switch component {
            case .key(let key): next = node.mapping?[Node(key)]
            case .index(let index): next = node.sequence.flatMap { index < $0.count ? $0[index] : nil }
            }
            guard let next else { break }
            node = next
            line = next.mark?.line ?? line
        }
        located.line = located.line ?? line
        return located
    }

    /// Keys in the file that the configuration does not have (a misspelt optional key would otherwise be ignored).
    private static func unknownKeys(in node: Node, comparedWith configuration: TenantConfiguration) -> [ConfigurationIssue] {
        guard let data = try? JSONEncoder().encode(configuration), let known = try? JSONSerialization.jsonObject(with: data) else { return [] }
        var issues: [ConfigurationIssue] = []
        func walk(_ node: Node, _ known: Any, _ path: [ConfigurationIssue.PathComponent]) {
            if let mapping = node.mapping, let object = known as? [String: Any] {
                for (key, value) in mapping {
                    guard let name = key.string else { continue }
                    if let child = object[name] {
                        walk(value, child, path + [.key(name)])
                    } else {
                        // Also a key with no value: in `{fi: a, b, en: c}` an unquoted comma makes "b" such a key.
                        let hint = value.null != nil ? " (or text with an unquoted comma: quote it)" : " (a misspelling?)"
                        issues.append(ConfigurationIssue(path + [.key(name)], "unknown key\(hint)", line: key.mark?.line))
                    }
                }
            } else if let sequence = node.sequence, let array = known as? [Any] {
                for (index, element) in sequence.enumerated() where index < array.count {
                    walk(element, array[index], path + [.index(index)])
                }
            }
        }
        walk(node, known, [])
        return issues
    }
}
