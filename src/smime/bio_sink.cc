#include <mutex>

#include "smime/internal/bio_sink.h"

namespace mailseal::smime::internal {

namespace {

int sink_write(BIO* bio, const char* data, int length) {
  auto* state = static_cast<SinkBio::State*>(BIO_get_data(bio));
  if (state == nullptr || state->error)
    return -1;
  try {
    state->sink->write(ByteView(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(length)));
    return length;
  } catch (...) {
    state->error = std::current_exception();
    return -1;
  }
}

long sink_ctrl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int sink_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* sink_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mailseal sink");
    BIO_meth_set_write(m, sink_write);
    BIO_meth_set_ctrl(m, sink_ctrl);
    BIO_meth_set_create(m, sink_create);
    return m;
  }();
  return method;
}

}  // namespace

SinkBio::SinkBio(ByteSink& sink)
    : state_{&sink, nullptr}, bio_(ossl::check_ptr(BIO_new(sink_method()), "cannot create an output BIO")) {
  BIO_set_data(bio_.get(), &state_);
}

void SinkBio::rethrow_if_failed() {
  if (state_.error) {
    std::rethrow_exception(state_.error);
  }
}

}  // namespace mailseal::smime::internal
