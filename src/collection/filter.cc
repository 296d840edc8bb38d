#include "collection/filter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "quarry/points.h"

namespace quarry {

using nlohmann::json;

// One condition of a compiled filter.
struct FilterCondition {
  enum class Kind { kField, kHasId, kFilter };
  Kind kind = Kind::kField;
  FieldCondition field;                         // kField
  std::vector<JsonPathStep> path;               // kField: field.key parsed
  std::vector<uint64_t> ids;                    // kHasId: sorted
  std::unique_ptr<CompiledFilter::Node> nested;  // kFilter
};

struct CompiledFilter::Node {
  std::vector<FilterCondition> must;
  std::vector<FilterCondition> should;
  std::vector<FilterCondition> must_not;
};

namespace {

constexpr const char* kFixedFields[] = {"doc_id", "source", "title",  "section",
                                        "text",   "chunk_index", "begin", "end"};

// ---- canonical form ----

std::string Quote(const std::string& text) {
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ValueText(const MatchValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return Quote(*s);
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  return std::get<bool>(value) ? "true" : "false";
}

std::string NumberText(double value) { return json(value).dump(); }

std::string ValueListText(std::vector<MatchValue> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + ValueText(values[i]);
  return out + "]";
}

std::string ConditionKey(const Condition& condition);

std::string ListKey(const std::vector<Condition>& conditions) {
  std::vector<std::string> keys;
  keys.reserve(conditions.size());
  for (const Condition& c : conditions) keys.push_back(ConditionKey(c));
  std::sort(keys.begin(), keys.end());
  std::string out = "[";
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? "," : "") + keys[i];
  return out + "]";
}

std::string FieldKey(const FieldCondition& field) {
  const std::string key = "\"key\":" + Quote(field.key);
  switch (field.op) {
    case FieldCondition::Op::kMatch:
      return "{" + key + ",\"match\":{\"value\":" +
             (field.values.empty() ? std::string("null") : ValueText(field.values[0])) + "}}";
    case FieldCondition::Op::kMatchAny:
      return "{" + key + ",\"match\":{\"any\":" + ValueListText(field.values) + "}}";
    case FieldCondition::Op::kMatchExcept:
      return "{" + key + ",\"match\":{\"except\":" + ValueListText(field.values) + "}}";
    case FieldCondition::Op::kMatchText:
      return "{" + key + ",\"match\":{\"text\":" + Quote(field.text) + "}}";
    case FieldCondition::Op::kRange: {
      std::string bounds;
      auto add = [&](const char* name, const std::optional<double>& bound) {
        if (!bound) return;
        bounds += (bounds.empty() ? "\"" : ",\"") + std::string(name) + "\":" + NumberText(*bound);
      };
      add("gt", field.range.gt);
      add("gte", field.range.gte);
      add("lt", field.range.lt);
      add("lte", field.range.lte);
      return "{" + key + ",\"range\":{" + bounds + "}}";
    }
    case FieldCondition::Op::kIsEmpty: return "{\"is_empty\":{" + key + "}}";
    case FieldCondition::Op::kIsNull: return "{\"is_null\":{" + key + "}}";
  }
  return "{}";
}

std::string ConditionKey(const Condition& condition) {
  if (const auto* field = std::get_if<FieldCondition>(&condition.value)) return FieldKey(*field);
  if (const auto* has_id = std::get_if<HasIdCondition>(&condition.value)) {
    std::vector<uint64_t> ids = has_id->ids;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::string out = "{\"has_id\":[";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    std::vector<std::string> uuids = has_id->uuids;
    std::sort(uuids.begin(), uuids.end());
    uuids.erase(std::unique(uuids.begin(), uuids.end()), uuids.end());
    for (size_t i = 0; i < uuids.size(); ++i) {
      out += (i || !ids.empty() ? ",\"" : "\"") + uuids[i] + "\"";
    }
    return out + "]}";
  }
  return CanonicalFilterKey(std::get<Filter>(condition.value));
}

// ---- evaluation ----

bool JsonInteger(const json& value, int64_t* out) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(v);
    return true;
  }
  if (value.is_number_integer()) {
    *out = value.get<int64_t>();
    return true;
  }
  return false;
}

bool Equals(const MatchValue& expected, const json& value) {
  if (const auto* s = std::get_if<std::string>(&expected)) {
    return value.is_string() && value.get_ref<const std::string&>() == *s;
  }
  if (const auto* i = std::get_if<int64_t>(&expected)) {
    int64_t stored = 0;
    return JsonInteger(value, &stored) && stored == *i;
  }
  return value.is_boolean() && value.get<bool>() == std::get<bool>(expected);
}

bool InRange(const RangeBounds& range, double v) {
  return (!range.lt || v < *range.lt) && (!range.gt || v > *range.gt) &&
         (!range.lte || v <= *range.lte) && (!range.gte || v >= *range.gte);
}

// Qdrant's check_match: one value (an element of an array value included).
bool CheckMatch(const FieldCondition& field, const json& value) {
  switch (field.op) {
    case FieldCondition::Op::kMatch: return Equals(field.values[0], value);
    case FieldCondition::Op::kMatchAny:
      return std::any_of(field.values.begin(), field.values.end(),
                         [&](const MatchValue& v) { return Equals(v, value); });
    case FieldCondition::Op::kMatchExcept:
      return !value.is_null() &&
             std::none_of(field.values.begin(), field.values.end(),
                          [&](const MatchValue& v) { return Equals(v, value); });
    case FieldCondition::Op::kMatchText:
      return value.is_string() &&
             value.get_ref<const std::string&>().find(field.text) != std::string::npos;
    case FieldCondition::Op::kRange: return value.is_number() && InRange(field.range, value.get<double>());
    case FieldCondition::Op::kIsEmpty:
    case FieldCondition::Op::kIsNull: return false;  // not value checks
  }
  return false;
}

// An array matches when one of its elements does (one level, as in Qdrant).
bool CheckValue(const FieldCondition& field, const json& value) {
  if (!value.is_array()) return CheckMatch(field, value);
  return std::any_of(value.begin(), value.end(),
                     [&](const json& element) { return CheckMatch(field, element); });
}

bool EvalNode(const CompiledFilter::Node& node, uint64_t point_id, PayloadView* payload);

bool EvalCondition(const FilterCondition& c, uint64_t point_id, PayloadView* payload) {
  switch (c.kind) {
    case FilterCondition::Kind::kHasId: return std::binary_search(c.ids.begin(), c.ids.end(), point_id);
    case FilterCondition::Kind::kFilter: return EvalNode(*c.nested, point_id, payload);
    case FilterCondition::Kind::kField: break;
  }
  bool result = false;
  switch (c.field.op) {
    case FieldCondition::Op::kIsEmpty:
      result = true;  // also when nothing is there
      payload->ForEachValue(c.path, [&](const json& v) {
        if (!v.is_null() && !(v.is_array() && v.empty())) result = false;
      });
      return result;
    case FieldCondition::Op::kIsNull:
      payload->ForEachValue(c.path, [&](const json& v) { result = result || v.is_null(); });
      return result;
    default:
      payload->ForEachValue(c.path, [&](const json& v) {
        result = result || CheckValue(c.field, v);
      });
      return result;
  }
}

bool EvalNode(const CompiledFilter::Node& node, uint64_t point_id, PayloadView* payload) {
  for (const FilterCondition& c : node.must) {
    if (!EvalCondition(c, point_id, payload)) return false;
  }
  for (const FilterCondition& c : node.must_not) {
    if (EvalCondition(c, point_id, payload)) return false;
  }
  if (node.should.empty()) return true;
  return std::any_of(node.should.begin(), node.should.end(), [&](const FilterCondition& c) {
    return EvalCondition(c, point_id, payload);
  });
}

// ---- compilation ----

Result<std::unique_ptr<CompiledFilter::Node>> CompileNode(const Filter& filter, const std::string& where);

Result<FilterCondition> CompileCondition(const Condition& condition, const std::string& where) {
  FilterCondition out;
  if (const auto* has_id = std::get_if<HasIdCondition>(&condition.value)) {
    out.kind = FilterCondition::Kind::kHasId;
    out.ids = has_id->ids;
    std::sort(out.ids.begin(), out.ids.end());
    return out;
  }
  if (const auto* nested = std::get_if<Filter>(&condition.value)) {
    out.kind = FilterCondition::Kind::kFilter;
    QUARRY_ASSIGN_OR_RETURN(out.nested, CompileNode(*nested, where));
    return out;
  }
  const FieldCondition& field = std::get<FieldCondition>(condition.value);
  auto path = ParseJsonPath(field.key);
  if (!path.ok()) return Status::InvalidArgument(where + ".key: " + path.status().message());
  if (field.op == FieldCondition::Op::kMatch && field.values.size() != 1) {
    return Status::InvalidArgument(where + ".match: expected one value");
  }
  if (field.op == FieldCondition::Op::kRange) {
    for (const auto& bound : {field.range.gt, field.range.gte, field.range.lt, field.range.lte}) {
      if (bound && !std::isfinite(*bound)) {
        return Status::InvalidArgument(where + ".range: bounds must be finite numbers");
      }
    }
  }
  out.kind = FilterCondition::Kind::kField;
  out.field = field;
  out.path = std::move(path).value();
  return out;
}

Result<std::unique_ptr<CompiledFilter::Node>> CompileNode(const Filter& filter, const std::string& where) {
  auto node = std::make_unique<CompiledFilter::Node>();
  struct Part {
    const char* name;
    const std::vector<Condition>* in;
    std::vector<FilterCondition>* out;
  };
  for (const Part& part : {Part{"must", &filter.must, &node->must},
                           Part{"should", &filter.should, &node->should},
                           Part{"must_not", &filter.must_not, &node->must_not}}) {
    for (size_t idx = 0; idx < part.in->size(); ++idx) {
      QUARRY_ASSIGN_OR_RETURN(
          FilterCondition c,
          CompileCondition((*part.in)[idx], where + "." + part.name + "[" + std::to_string(idx) + "]"));
      part.out->push_back(std::move(c));
    }
  }
  return node;
}

}  // namespace

std::string CanonicalFilterKey(const Filter& filter) {
  std::string out = "{";
  auto add = [&](const char* name, const std::vector<Condition>& conditions) {
    if (conditions.empty()) return;
    out += (out.size() > 1 ? ",\"" : "\"") + std::string(name) + "\":" + ListKey(conditions);
  };
  add("must", filter.must);
  add("must_not", filter.must_not);
  add("should", filter.should);
  return out + "}";
}

bool IsFixedPayloadField(std::string_view name) {
  return std::find(std::begin(kFixedFields), std::end(kFixedFields), name) != std::end(kFixedFields);
}

const json* PayloadView::Top(const std::string& name) {
  if (IsFixedPayloadField(name) && !IsApiPoint(chunk_)) {  // a point's payload is its own
    for (const auto& [field, value] : fixed_) {
      if (field == name) return &value;
    }
    json value;
    if (name == "doc_id") value = chunk_.doc_id;
    else if (name == "source") value = chunk_.source;
    else if (name == "title") value = chunk_.title;
    else if (name == "section") value = chunk_.section;
    else if (name == "text") value = chunk_.text;
    else if (name == "chunk_index") value = chunk_.chunk_index;
    else if (name == "begin") value = chunk_.begin;
    else value = chunk_.end;
    if (fixed_.capacity() == 0) fixed_.reserve(std::size(kFixedFields));  // pointers stay valid
    fixed_.emplace_back(name, std::move(value));
    return &fixed_.back().second;
  }
  if (!metadata_.has_value()) {
    metadata_ = chunk_.metadata.empty()
                    ? json::object()
                    : json::parse(chunk_.metadata, nullptr, /*allow_exceptions=*/false);
    if (!metadata_->is_object()) metadata_ = json::object();
  }
  auto it = metadata_->find(name);
  return it == metadata_->end() ? nullptr : &*it;
}

void PayloadView::ForEachValue(const std::vector<JsonPathStep>& path,
                               const std::function<void(const json&)>& fn) {
  if (path.empty() || path[0].kind != JsonPathStep::Kind::kKey) return;
  const json* top = Top(path[0].key);
  if (top == nullptr) return;
  // Depth-first over the steps after the first; intermediate arrays are
  // walked only where the path says [] or [N].
  auto walk = [&](auto&& self, const json& value, size_t step) -> void {
    if (step == path.size()) {
      fn(value);
      return;
    }
    const JsonPathStep& s = path[step];
    switch (s.kind) {
      case JsonPathStep::Kind::kKey:
        if (value.is_object()) {
          auto it = value.find(s.key);
          if (it != value.end()) self(self, *it, step + 1);
        }
        break;
      case JsonPathStep::Kind::kEach:
        if (value.is_array()) {
          for (const json& element : value) self(self, element, step + 1);
        }
        break;
      case JsonPathStep::Kind::kIndex:
        if (value.is_array() && s.index < value.size()) self(self, value[s.index], step + 1);
        break;
    }
  };
  walk(walk, *top, 1);
}

CompiledFilter::CompiledFilter(std::unique_ptr<Node> root) : root_(std::move(root)) {}
CompiledFilter::CompiledFilter(CompiledFilter&&) noexcept = default;
CompiledFilter& CompiledFilter::operator=(CompiledFilter&&) noexcept = default;
CompiledFilter::~CompiledFilter() = default;

Result<CompiledFilter> CompiledFilter::Compile(const Filter& filter) {
  QUARRY_ASSIGN_OR_RETURN(std::unique_ptr<Node> root, CompileNode(filter, "filter"));
  return CompiledFilter(std::move(root));
}

bool CompiledFilter::Matches(uint64_t point_id, const Chunk& chunk) const {
  PayloadView payload(chunk);
  return Matches(point_id, &payload);
}

bool CompiledFilter::Matches(uint64_t point_id, PayloadView* payload) const {
  return EvalNode(*root_, point_id, payload);
}

}  // namespace quarry
