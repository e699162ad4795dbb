#include "util/yaml_json.h"

#include <yaml.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "util/yaml_scalar.h"

namespace coderun::util {
namespace {

using nlohmann::json;

class Parser {
 public:
  Parser() : ready_(yaml_parser_initialize(&parser_) != 0) {}
  ~Parser() {
    if (ready_) yaml_parser_delete(&parser_);
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  bool ready() const { return ready_; }
  yaml_parser_t* get() { return &parser_; }

 private:
  yaml_parser_t parser_{};
  bool ready_;
};

class Event {
 public:
  Event() = default;
  ~Event() { reset(); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  yaml_event_t* get() {
    reset();
    live_ = true;
    return &event_;
  }
  const yaml_event_t& operator*() const { return event_; }
  void reset() {
    if (live_) yaml_event_delete(&event_);
    live_ = false;
  }

 private:
  yaml_event_t event_{};
  bool live_ = false;
};

std::string_view view(const yaml_char_t* text, size_t length) {
  return {reinterpret_cast<const char*>(text), length};
}

std::string at(const yaml_mark_t& mark) {
  return " (line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1) +
         ")";
}

// User text quoted in a refusal, at most 60 bytes of it (cut on a UTF-8 boundary): a 200 KB
// anchor name or key must not make a 200 KB message.
std::string excerpt(std::string_view text) {
  constexpr size_t kMax = 60;
  if (text.size() <= kMax) return std::string(text);
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

// One open sequence or mapping: where its members go, and for a mapping the key read last.
struct Frame {
  json* container;
  bool mapping;
  bool has_key = false;
  std::string key;
};

class Converter {
 public:
  explicit Converter(const YamlLimits& limits) : limits_(limits) {}

  JsonParseResult run(std::string_view text) {
    Parser parser;
    if (!parser.ready()) return failed("YAML parser out of memory");
    yaml_parser_set_input_string(parser.get(), reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    Event event;
    while (true) {
      if (yaml_parser_parse(parser.get(), event.get()) == 0) {
        return failed(std::string("invalid YAML: ") +
                      (parser.get()->problem != nullptr ? parser.get()->problem : "parse error") +
                      at(parser.get()->problem_mark));
      }
      const yaml_event_t& e = *event;
      if (e.type == YAML_STREAM_END_EVENT) break;
      if (!handle(e)) return std::move(result_);
    }
    result_.value = std::move(root_);
    return std::move(result_);
  }

 private:
  bool handle(const yaml_event_t& e) {
    switch (e.type) {
      case YAML_DOCUMENT_START_EVENT:
        if (++documents_ > 1) return fail("several YAML documents; one is expected", e);
        return true;
      case YAML_ALIAS_EVENT:
        return fail("a YAML alias (*" +
                        excerpt(reinterpret_cast<const char*>(e.data.alias.anchor)) +
                        "); anchors and aliases are not expanded",
                    e);
      case YAML_SCALAR_EVENT:
        return scalar(e);
      case YAML_SEQUENCE_START_EVENT:
        return open(e, e.data.sequence_start.anchor, e.data.sequence_start.tag, false);
      case YAML_MAPPING_START_EVENT:
        return open(e, e.data.mapping_start.anchor, e.data.mapping_start.tag, true);
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        stack_.pop_back();
        return true;
      default:
        return true;
    }
  }

  bool counted(const yaml_event_t& e) {
    if (++nodes_ > limits_.max_nodes) {
      return fail("more than " + std::to_string(limits_.max_nodes) + " YAML values", e);
    }
    return true;
  }

  bool node_checks(const yaml_event_t& e, const yaml_char_t* anchor, const yaml_char_t* tag) {
    if (anchor != nullptr) {
      return fail("a YAML anchor (&" + excerpt(reinterpret_cast<const char*>(anchor)) +
                      "); anchors and aliases are not expanded",
                  e);
    }
    if (tag != nullptr) {
      return fail("a YAML tag (" + excerpt(reinterpret_cast<const char*>(tag)) +
                      "); write the value without it",
                  e);
    }
    return counted(e);
  }

  bool open(const yaml_event_t& e, const yaml_char_t* anchor, const yaml_char_t* tag,
            bool mapping) {
    if (!node_checks(e, anchor, tag)) return false;
    if (stack_.size() + 1 > limits_.max_depth) {
      return fail("YAML nested more than " + std::to_string(limits_.max_depth) + " levels deep", e);
    }
    json* slot = place(e);
    if (slot == nullptr) return false;
    *slot = mapping ? json::object() : json::array();
    stack_.push_back(Frame{slot, mapping, false, {}});
    return true;
  }

  bool scalar(const yaml_event_t& e) {
    const auto& s = e.data.scalar;
    const bool plain = s.plain_implicit != 0 && s.tag == nullptr;
    if (!node_checks(e, s.anchor, s.tag)) return false;
    const std::string_view text = view(s.value, s.length);
    if (s.style != YAML_DOUBLE_QUOTED_SCALAR_STYLE && limits_.argo_expressions_double_quoted &&
        text.find("{{") != std::string_view::npos) {
      return fail("an Argo expression outside double quotes (" + excerpt(text) +
                      "); write it in double quotes",
                  e);
    }
    if (!stack_.empty() && stack_.back().mapping && !stack_.back().has_key) {
      return key(e, text, plain);
    }
    json* slot = place(e);
    if (slot == nullptr) return false;
    if (!plain) {
      *slot = std::string(text);
      return true;
    }
    PlainScalar resolved = resolve_plain_scalar(text);
    if (resolved.type == PlainScalar::Type::kUnrepresentable) return fail(resolved.problem, e);
    *slot = std::move(resolved.value);
    return true;
  }

  // sigs.k8s.io/yaml turns integer and boolean keys into strings and refuses other kinds.
  bool key(const yaml_event_t& e, std::string_view text, bool plain) {
    Frame& frame = stack_.back();
    if (!plain) {
      frame.key = std::string(text);
    } else {
      if (text == "<<") return fail("a YAML merge key (<<); merge keys are not expanded", e);
      const PlainScalar resolved = resolve_plain_scalar(text);
      switch (resolved.type) {
        case PlainScalar::Type::kString:
          frame.key = resolved.value.get<std::string>();
          break;
        case PlainScalar::Type::kBool:
          frame.key = resolved.value.get<bool>() ? "true" : "false";
          break;
        case PlainScalar::Type::kInt:
          if (resolved.value.is_number_unsigned() &&
              resolved.value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
            return fail("the key " + excerpt(text) + " is too large an integer for a key", e);
          }
          frame.key = resolved.value.dump();
          break;
        default:
          return fail("the key " + (text.empty() ? std::string("(empty)") : excerpt(text)) +
                          " is read as a float or null; quote it",
                      e);
      }
    }
    if (frame.container->contains(frame.key)) {
      return fail("the key " + excerpt(frame.key) + " appears twice in one mapping", e);
    }
    frame.has_key = true;
    return true;
  }

  // Where the next value goes: the document root, the end of a sequence, or under a mapping's key.
  json* place(const yaml_event_t& e) {
    if (stack_.empty()) return &root_;
    Frame& frame = stack_.back();
    if (!frame.mapping) {
      frame.container->push_back(nullptr);
      return &frame.container->back();
    }
    if (!frame.has_key) {
      fail("a key that is a sequence or a mapping", e);
      return nullptr;
    }
    frame.has_key = false;
    return &(*frame.container)[frame.key];
  }

  bool fail(std::string message, const yaml_event_t& e) {
    result_.error = std::move(message) + at(e.start_mark);
    return false;
  }

  JsonParseResult failed(std::string message) {
    result_.error = std::move(message);
    return std::move(result_);
  }

  const YamlLimits& limits_;
  json root_;
  std::vector<Frame> stack_;
  size_t nodes_ = 0;
  size_t documents_ = 0;
  JsonParseResult result_;
};

}  // namespace

JsonParseResult parse_yaml(std::string_view text, const YamlLimits& limits) {
  return Converter(limits).run(text);
}

nlohmann::json yaml_to_json(std::string_view text) {
  auto parsed = parse_yaml(text);
  if (!parsed.value) throw std::runtime_error(parsed.error);
  return std::move(*parsed.value);
}

}  // namespace coderun::util
