#pragma once
#include <vector>

#include "admission/review.h"
#include "decision/decide.h"
#include "kube/event_recorder.h"

namespace coderun::service {

// The Kubernetes Events that report a decision, so that `kubectl events --for workflow/<name>`
// shows it. Mutated and EventParseFailed come from the validating pass, which sees the name the
// API server gave a generateName object (the mutating pass does not); Denied comes from the pass
// that denied. The mutating pass's additions are read back from the value-sources annotation.
// Mutated and EventParseFailed of an allowed object carry a StoredCheck (the object's path and
// metadata.uid): the recorder posts them once the object is found stored. Denied carries none.
// Pure: the caller posts them (never for dryRun requests).
std::vector<kube::EventRecord> events_for(const admission::Request& request,
                                          const decision::Decision& decision,
                                          decision::Phase phase);

}  // namespace coderun::service
