module example.com/failingtest

go 1.24
