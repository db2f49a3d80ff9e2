module modelctl.cluster/pause

go 1.22
