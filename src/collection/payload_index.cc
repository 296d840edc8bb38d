#include "collection/payload_index.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "collection/filter.h"
#include "common/json_path.h"

namespace quarry {

using nlohmann::json;

namespace {

using PointSet = std::unordered_set<uint64_t>;

void Append(const PointSet& points, std::vector<uint64_t>* out) {
  out->insert(out->end(), points.begin(), points.end());
}

void SortUnique(std::vector<uint64_t>* ids) {
  std::sort(ids->begin(), ids->end());
  ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
}

std::vector<uint64_t> Intersect(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<uint64_t> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

template <typename Key>
void RemoveFrom(std::map<Key, PointSet>* map, const Key& key, uint64_t point_id) {
  auto it = map->find(key);
  if (it == map->end()) return;
  it->second.erase(point_id);
  if (it->second.empty()) map->erase(it);
}

// The integers whose value as a double may satisfy a bound: exact below 2^52;
// beyond, integers round when converted, so the bound is widened by more
// than an ulp (candidates may be a superset, never a subset).
constexpr double kInt64Edge = 9.2e18;
double LowestInteger(double x, bool strict) {  // of v >= x, or v > x when strict
  if (std::fabs(x) >= 0x1p52) return std::floor(x) - 1.0 - std::fabs(x) * 1e-15;
  const double c = std::ceil(x);
  return strict && c == x ? c + 1.0 : c;
}
double HighestInteger(double x, bool strict) {  // of v <= x, or v < x when strict
  if (std::fabs(x) >= 0x1p52) return std::ceil(x) + 1.0 + std::fabs(x) * 1e-15;
  const double f = std::floor(x);
  return strict && f == x ? f - 1.0 : f;
}

}  // namespace

class PayloadFieldIndex {
 public:
  PayloadFieldIndex(std::string field, std::vector<JsonPathStep> path, PayloadIndexType type)
      : field_(std::move(field)), path_(std::move(path)), type_(type) {}

  const std::string& field() const { return field_; }
  PayloadIndexType type() const { return type_; }
  uint64_t points() const { return of_point_.size(); }

  void Add(uint64_t point_id, const Chunk& chunk) {
    Remove(point_id);
    Keys keys;
    auto take = [&](const json& v) {
      switch (type_) {
        case PayloadIndexType::kKeyword:
          if (v.is_string()) keys.strings.push_back(v.get<std::string>());
          break;
        case PayloadIndexType::kInteger: {
          int64_t i = 0;
          if (v.is_number_integer() && IntegerOf(v, &i)) {
            keys.integers.push_back(i);
          } else if (v.is_number()) {
            keys.other_number = true;
          }
          break;
        }
        case PayloadIndexType::kFloat:
          if (v.is_number()) keys.floats.push_back(v.get<double>());
          break;
        case PayloadIndexType::kBool:
          if (v.is_boolean()) keys.bools |= v.get<bool>() ? 2 : 1;
          break;
      }
    };
    PayloadView payload(chunk);
    // Arrays count by their elements, one level deep, as filters read them.
    payload.ForEachValue(path_, [&](const json& v) {
      if (v.is_array()) {
        for (const json& element : v) take(element);
      } else {
        take(v);
      }
    });
    Dedupe(&keys.strings);
    Dedupe(&keys.integers);
    Dedupe(&keys.floats);
    if (keys.strings.empty() && keys.integers.empty() && keys.floats.empty() && keys.bools == 0 &&
        !keys.other_number) {
      return;
    }
    for (const auto& s : keys.strings) keywords_[s].insert(point_id);
    for (int64_t i : keys.integers) integers_[i].insert(point_id);
    for (double d : keys.floats) floats_[d].insert(point_id);
    if (keys.bools & 1) bools_[0].insert(point_id);
    if (keys.bools & 2) bools_[1].insert(point_id);
    if (keys.other_number) other_numbers_.insert(point_id);
    of_point_.emplace(point_id, std::move(keys));
  }

  void Remove(uint64_t point_id) {
    auto it = of_point_.find(point_id);
    if (it == of_point_.end()) return;
    const Keys& keys = it->second;
    for (const auto& s : keys.strings) RemoveFrom(&keywords_, s, point_id);
    for (int64_t i : keys.integers) RemoveFrom(&integers_, i, point_id);
    for (double d : keys.floats) RemoveFrom(&floats_, d, point_id);
    bools_[0].erase(point_id);
    bools_[1].erase(point_id);
    other_numbers_.erase(point_id);
    of_point_.erase(it);
  }

  // A superset of the points whose values satisfy `condition` (unsorted),
  // or nullopt when this index cannot answer it.
  std::optional<std::vector<uint64_t>> Lookup(const FieldCondition& condition) const {
    std::vector<uint64_t> out;
    switch (condition.op) {
      case FieldCondition::Op::kMatch:
      case FieldCondition::Op::kMatchAny:
        for (const MatchValue& value : condition.values) {
          if (!LookupValue(value, &out)) return std::nullopt;
        }
        return out;
      case FieldCondition::Op::kRange:
        if (type_ == PayloadIndexType::kFloat) {
          const RangeBounds& r = condition.range;
          auto it = floats_.begin();
          if (r.gte || r.gt) {
            it = floats_.lower_bound(std::max(r.gte.value_or(-std::numeric_limits<double>::infinity()),
                                              r.gt.value_or(-std::numeric_limits<double>::infinity())));
          }
          for (; it != floats_.end(); ++it) {
            const double key = it->first;
            if ((r.lt && !(key < *r.lt)) || (r.lte && !(key <= *r.lte))) break;
            if ((r.gt && !(key > *r.gt)) || (r.gte && !(key >= *r.gte))) continue;
            Append(it->second, &out);
          }
          return out;
        }
        if (type_ == PayloadIndexType::kInteger) {
          const RangeBounds& r = condition.range;
          double lo = -std::numeric_limits<double>::infinity();
          double hi = std::numeric_limits<double>::infinity();
          if (r.gte) lo = std::max(lo, LowestInteger(*r.gte, false));
          if (r.gt) lo = std::max(lo, LowestInteger(*r.gt, true));
          if (r.lte) hi = std::min(hi, HighestInteger(*r.lte, false));
          if (r.lt) hi = std::min(hi, HighestInteger(*r.lt, true));
          Append(other_numbers_, &out);
          if (lo > hi || lo >= kInt64Edge || hi <= -kInt64Edge) return out;
          auto it = lo <= -kInt64Edge ? integers_.begin()
                                      : integers_.lower_bound(static_cast<int64_t>(lo));
          for (; it != integers_.end(); ++it) {
            if (hi < kInt64Edge && it->first > static_cast<int64_t>(hi)) break;
            Append(it->second, &out);
          }
          return out;
        }
        return std::nullopt;
      default:
        return std::nullopt;
    }
  }

 private:
  struct Keys {
    std::vector<std::string> strings;
    std::vector<int64_t> integers;
    std::vector<double> floats;
    uint8_t bools = 0;  // bit 0: false, bit 1: true
    bool other_number = false;  // integer index: a number that is no int64
  };

  template <typename T>
  static void Dedupe(std::vector<T>* values) {
    std::sort(values->begin(), values->end());
    values->erase(std::unique(values->begin(), values->end()), values->end());
  }

  static bool IntegerOf(const json& v, int64_t* out) {
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      *out = static_cast<int64_t>(u);
      return true;
    }
    *out = v.get<int64_t>();
    return true;
  }

  bool LookupValue(const MatchValue& value, std::vector<uint64_t>* out) const {
    if (const auto* s = std::get_if<std::string>(&value)) {
      if (type_ != PayloadIndexType::kKeyword) return false;
      if (auto it = keywords_.find(*s); it != keywords_.end()) Append(it->second, out);
      return true;
    }
    if (const auto* i = std::get_if<int64_t>(&value)) {
      if (type_ != PayloadIndexType::kInteger) return false;
      if (auto it = integers_.find(*i); it != integers_.end()) Append(it->second, out);
      return true;
    }
    if (type_ != PayloadIndexType::kBool) return false;
    Append(bools_[std::get<bool>(value) ? 1 : 0], out);
    return true;
  }

  std::string field_;
  std::vector<JsonPathStep> path_;
  PayloadIndexType type_;
  std::map<std::string, PointSet> keywords_;
  std::map<int64_t, PointSet> integers_;
  std::map<double, PointSet> floats_;
  PointSet bools_[2];
  PointSet other_numbers_;
  std::unordered_map<uint64_t, Keys> of_point_;
};

void PayloadFieldIndexDeleter::operator()(PayloadFieldIndex* index) const { delete index; }

PayloadIndexes::PayloadIndexes() = default;
PayloadIndexes::~PayloadIndexes() = default;
PayloadIndexes::PayloadIndexes(PayloadIndexes&&) noexcept = default;
PayloadIndexes& PayloadIndexes::operator=(PayloadIndexes&&) noexcept = default;

Result<PayloadFieldIndexPtr> PayloadIndexes::NewField(const std::string& field,
                                                                    PayloadIndexType type) {
  QUARRY_ASSIGN_OR_RETURN(std::vector<JsonPathStep> path, ParseJsonPath(field));
  return PayloadFieldIndexPtr(new PayloadFieldIndex(field, std::move(path), type));
}

void PayloadIndexes::AddTo(PayloadFieldIndex* index, uint64_t point_id, const Chunk& chunk) {
  index->Add(point_id, chunk);
}

void PayloadIndexes::Put(PayloadFieldIndexPtr index) {
  auto it = std::lower_bound(fields_.begin(), fields_.end(), index->field(),
                             [](const auto& f, const std::string& name) { return f->field() < name; });
  if (it != fields_.end() && (*it)->field() == index->field()) {
    *it = std::move(index);
  } else {
    fields_.insert(it, std::move(index));
  }
}

bool PayloadIndexes::Drop(const std::string& field) {
  auto it = std::find_if(fields_.begin(), fields_.end(),
                         [&](const auto& f) { return f->field() == field; });
  if (it == fields_.end()) return false;
  fields_.erase(it);
  return true;
}

std::vector<PayloadIndexInfo> PayloadIndexes::Info() const {
  std::vector<PayloadIndexInfo> out;
  for (const auto& f : fields_) out.push_back({f->field(), f->type(), f->points()});
  return out;
}

const PayloadFieldIndex* PayloadIndexes::Find(const std::string& field) const {
  for (const auto& f : fields_) {
    if (f->field() == field) return f.get();
  }
  return nullptr;
}

void PayloadIndexes::Add(uint64_t point_id, const Chunk& chunk) {
  for (auto& f : fields_) f->Add(point_id, chunk);
}

void PayloadIndexes::Remove(uint64_t point_id) {
  for (auto& f : fields_) f->Remove(point_id);
}

std::optional<std::vector<uint64_t>> PayloadIndexes::Candidates(const Filter& filter) const {
  if (fields_.empty() && filter.must.empty() && filter.should.empty()) return std::nullopt;
  auto plan_condition = [&](const Condition& condition) -> std::optional<std::vector<uint64_t>> {
    if (const auto* has_id = std::get_if<HasIdCondition>(&condition.value)) {
      std::vector<uint64_t> ids = has_id->ids;
      SortUnique(&ids);
      return ids;
    }
    if (const auto* nested = std::get_if<Filter>(&condition.value)) return Candidates(*nested);
    const FieldCondition& field = std::get<FieldCondition>(condition.value);
    const PayloadFieldIndex* index = Find(field.key);
    if (index == nullptr) return std::nullopt;
    auto found = index->Lookup(field);
    if (found) SortUnique(&*found);
    return found;
  };
  std::optional<std::vector<uint64_t>> result;
  for (const Condition& condition : filter.must) {
    auto found = plan_condition(condition);
    if (!found) continue;
    result = result ? Intersect(*result, *found) : std::move(found);
    if (result->empty()) return result;
  }
  if (!filter.should.empty()) {
    std::vector<uint64_t> any;
    bool answered = true;
    for (const Condition& condition : filter.should) {
      auto found = plan_condition(condition);
      if (!found) {
        answered = false;
        break;
      }
      any.insert(any.end(), found->begin(), found->end());
    }
    if (answered) {
      SortUnique(&any);
      result = result ? Intersect(*result, any) : std::move(any);
    }
  }
  return result;
}

}  // namespace quarry
