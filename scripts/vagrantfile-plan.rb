# vagrantfile-plan.rb: evaluates vagrant/Vagrantfile the way `vagrant up`
# would read it and prints, for each machine in definition order, what
# scripts/machines.sh needs to build the same machine:
#
#   machine NAME
#   hostname NAME
#   network IP NETMASK auto      a private network NIC Vagrant configures
#   network IP NETMASK manual    one it leaves without a guest address
#   provision PATH               the shell provisioner's script (absolute)
#   env NAME=VALUE               its environment, one line each
#
# Usage: ruby vagrantfile-plan.rb [--json] VAGRANTFILE
# The host's environment is the Vagrantfile's, as with `vagrant up`. A
# recorder stands in for Vagrant's DSL: it records every attribute write
# (`vb.memory = 2048`), namespace (`config.vm`) and call (`network`,
# `provider`, `define` ...), a call's block evaluated against a fresh
# recorder. The plan above uses the parts the lab needs; with --json it
# prints the whole record instead (the vagrant_lab test checks it).

require "json"

class Recorder
  attr_reader :attrs, :calls

  def initialize
    @attrs = {}
    @children = {}
    @calls = []
  end

  def method_missing(name, *args, **opts, &block)
    key = name.to_s
    if key.end_with?("=")
      @attrs[key.chomp("=")] = args.first
    elsif args.empty? && opts.empty? && block.nil?
      @children[key] ||= Recorder.new
    else
      inner = nil
      if block
        inner = Recorder.new
        block.call(inner, Recorder.new)
      end
      @calls << { method: key, args: args, options: opts, block: inner }
      nil
    end
  end

  def respond_to_missing?(_name, _private = false)
    true
  end

  def child(name)
    @children[name] || Recorder.new
  end

  def to_json(*a)
    { "attrs" => @attrs, "children" => @children, "calls" => @calls }.to_json(*a)
  end
end

module Vagrant
  def self.require_version(*_versions); end

  def self.configure(version)
    raise "configuration version #{version.inspect}, expected \"2\"" unless version == "2"
    config = Recorder.new
    yield config
    ($vagrant_configs ||= []) << config
  end
end

# value VALUE: one line's value; a newline would break the plan's format.
def value(v)
  s = v.to_s
  raise "a value holds a newline: #{s.inspect}" if s.include?("\n")
  s
end

json = ARGV.first == "--json"
ARGV.shift if json
vagrantfile = File.expand_path(ARGV.fetch(0))
dir = File.dirname(vagrantfile)
Dir.chdir(dir) { load File.basename(vagrantfile) }
configs = $vagrant_configs || []
if json
  puts JSON.generate(configs)
  exit
end
raise "expected one Vagrant.configure block, found #{configs.size}" unless configs.size == 1

configs[0].child("vm").calls.each do |call|
  next unless call[:method] == "define"
  name = call[:args].first
  vm = call[:block].child("vm")
  puts "machine #{value(name)}"
  puts "hostname #{value(vm.attrs['hostname'] || name)}"
  vm.calls.each do |c|
    case c[:method]
    when "network"
      next unless c[:args].first == "private_network"
      o = c[:options]
      mode = o[:auto_config] == false ? "manual" : "auto"
      puts "network #{value(o[:ip])} #{value(o[:netmask] || '255.255.255.0')} #{mode}"
    when "provision"
      o = c[:options]
      next unless c[:args].first == "shell"
      raise "machine #{name}: only provisioners with path: are supported" unless o[:path]
      puts "provision #{value(File.expand_path(o[:path], dir))}"
      (o[:env] || {}).each { |k, v| puts "env #{value(k)}=#{value(v)}" }
    end
  end
end
