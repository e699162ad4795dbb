#include "github/safe_values.h"

#include <catch2/catch.hpp>

using namespace coderun::github;

TEST_CASE("refs that git and a shell both accept") {
  for (const char* ref : {"main", "feature/x", "v1.2.3", "refs/pull/217/head", "build/pkg",
                          "gh-readonly-queue/main/pr-104-929f8209d", "user_name+fix", "a@b"}) {
    INFO(ref);
    CHECK_FALSE(check_ref(ref));
  }
}

TEST_CASE("refs refused by git check-ref-format or dangerous in a shell") {
  for (const char* ref :
       {"",     "$(id)",  "a`id`", "x;rm", "a|b",       "a&b",   "a>b",    "a<b",       "it's",
        "a\"b", "a\\b",   "a\nb",  "a b",  "a*",        "a?",    "a[1]",   "{a,b}",     "-rf",
        "/abs", "trail/", "a..b",  "a//b", "a@{1}",     "a:b",   "x.lock", "a/.hidden", ".dot",
        "end.", "@",      "a~1",   "a^2",  "tab\there", "bell\a"}) {
    INFO(ref);
    CHECK(check_ref(ref));
  }
  CHECK(check_ref(std::string(256, 'a')));
  CHECK(check_ref(std::string("nul\0byte", 8)));
}

TEST_CASE("GitHub owners") {
  CHECK_FALSE(check_owner("Codertocat"));
  CHECK_FALSE(check_owner("octo-org"));
  CHECK_FALSE(check_owner(std::string(39, 'a')));
  for (const char* owner : {"", "-a", "a-", "a--b", "a_b", "a.b", "a/b", "$x"}) {
    INFO(owner);
    CHECK(check_owner(owner));
  }
  CHECK(check_owner(std::string(40, 'a')));
}

TEST_CASE("GitHub repository names") {
  for (const char* repo : {"Hello-World", "sample_app", "lstn", "a.b", ".github", "x--y"}) {
    CHECK_FALSE(check_repo(repo));
  }
  for (const char* repo : {"", ".", "..", "a/b", "a b", "a;b", "a$"}) {
    INFO(repo);
    CHECK(check_repo(repo));
  }
  CHECK(check_repo(std::string(101, 'a')));
  CHECK_FALSE(check_repo_full_name("Codertocat/Hello-World"));
  CHECK(check_repo_full_name("Codertocat"));
  CHECK(check_repo_full_name("Codertocat/../etc"));
  CHECK(check_repo_full_name("a/b/c"));
}

TEST_CASE("numbers and hashes") {
  CHECK_FALSE(check_number("1"));
  CHECK_FALSE(check_number("26764"));
  for (const char* number : {"", "0", "01", "-1", "1.5", "1e3", "12a", " 1"}) {
    INFO(number);
    CHECK(check_number(number));
  }
  CHECK_FALSE(check_sha("ec26c3e57ca3a959ca5aad62de7213c562f8c821"));
  CHECK(check_sha("EC26C3E57CA3A959CA5AAD62DE7213C562F8C821"));
  CHECK(check_sha("ec26c3e"));
}

TEST_CASE("paths stay relative and inside their directory") {
  CHECK_FALSE(check_relative_path("task/prompt.md"));
  CHECK_FALSE(check_relative_path("docs/api-guide"));
  for (const char* path : {"", "/etc/passwd", "../x", "a/../../x", "a/..", "$(id)", "-x"}) {
    INFO(path);
    CHECK(check_relative_path(path));
  }
  CHECK_FALSE(check_path_inside("/etc/agents/rex_system-prompt.md", "/etc/agents"));
  CHECK(check_path_inside("/etc/agentsX/p.md", "/etc/agents"));
  CHECK(check_path_inside("/etc/agents/../passwd", "/etc/agents"));
  CHECK(check_path_inside("/etc/passwd", "/etc/agents"));
}
