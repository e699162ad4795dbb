module coderun-webhook/go-reference

go 1.19
