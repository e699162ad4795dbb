#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace coderun::server {

// The bytes received on a connection and not yet used. Unlike std::string, making room to read
// into does not zero it, and consuming a request from the front is an offset change.
class ByteBuffer {
 public:
  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }

  size_t capacity() const { return capacity_; }

  // The capacity space(bytes, at_most) will leave: lets the caller account for memory before it
  // is taken.
  size_t capacity_for(size_t bytes, size_t at_most = SIZE_MAX) const {
    if (capacity_ - end_ >= bytes || capacity_ - size() >= bytes) return capacity_;
    const size_t room = std::max(bytes, at_most);
    const size_t limit = room > SIZE_MAX - size() ? SIZE_MAX : size() + room;
    return std::max(size() + bytes, std::min(capacity_ * 2, limit));
  }

  // At least `bytes` of writable space after the data; positions within view() are kept. Grows
  // by doubling, but to no more than `at_most` bytes of space when the caller knows how much is
  // to come (a declared body is not given twice its size).
  std::span<char> space(size_t bytes, size_t at_most = SIZE_MAX) {
    if (capacity_ - end_ < bytes && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, size());
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ - end_ < bytes) {
      const size_t capacity = capacity_for(bytes, at_most);
      auto grown = std::make_unique_for_overwrite<char[]>(capacity);
      if (!empty()) std::memcpy(grown.get(), data_.get() + begin_, size());
      end_ -= begin_;
      begin_ = 0;
      data_ = std::move(grown);
      capacity_ = capacity;
    }
    return {data_.get() + end_, capacity_ - end_};
  }
  void commit(size_t bytes) { end_ += bytes; }  // after writing into space()
  void consume(size_t bytes) {
    begin_ += bytes;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Gives the memory back when empty and larger than a usual request needs.
  void shrink_if_empty(size_t keep_capacity) {
    if (empty() && capacity_ > keep_capacity) {
      data_.reset();
      capacity_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0, begin_ = 0, end_ = 0;
};

}  // namespace coderun::server
