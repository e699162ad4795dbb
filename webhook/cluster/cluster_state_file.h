#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cluster/cluster_view.h"

namespace coderun::cluster {

class ClusterStateFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The offline commands' stand-in for a cluster (--cluster-state FILE): YAML or JSON holding
// Namespaces, ConfigMaps and Secrets, as a List (`kubectl get ... -o yaml`), an array, or one
// object. ConfigMaps keep their keys, Secrets their names, Namespaces their annotations; Secret
// data is never read. Throws ClusterStateFileError with the reason.
std::shared_ptr<const ClusterSnapshot> cluster_state_from_text(std::string_view text);
std::shared_ptr<const ClusterSnapshot> load_cluster_state_file(const std::string& path);

}  // namespace coderun::cluster
