#pragma once
#include <algorithm>
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

  // At least `bytes` of writable space after the data; positions within view() are kept.
  std::span<char> space(size_t bytes) {
    if (capacity_ - end_ < bytes && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, size());
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ - end_ < bytes) {
      const size_t capacity = std::max(capacity_ * 2, end_ + bytes);
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
